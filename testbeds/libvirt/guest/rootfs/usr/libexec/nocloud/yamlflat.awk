# yamlflat.awk: the YAML subset NoCloud documents use, flattened to one
# "path<TAB>value" line per scalar (busybox awk, POSIX awk). Paths join mapping
# keys and list indexes (from 0) with "/": `ethernets/nic0/addresses/0`.
#
# Read: block mappings and block lists by indentation (`key: value`,
# `key:` + deeper lines, `- item`, `- key: value` + sibling keys), flow
# collections `{…}` / `[…]` spanning lines (so the JSON hvkit writes through
# `yamlJson`, which is YAML too), "double" (JSON escapes; \uXXXX becomes "?")
# and 'single' quoted scalars, `#` comments, `---`. Block scalars (`|`, `>`)
# are skipped (their path gets an empty value): a user-data `write_files`
# body is never read as keys. Not read: anchors, aliases, tags, multi-line
# plain scalars, complex keys — NoCloud seeds do not need them here.

function emit(path, value) { printf "%s\t%s\n", path, value }
function join(parent, key) { return parent == "" ? key : parent "/" key }
function trim(s) { sub(/^[ \t\r\n]+/, "", s); sub(/[ \t\r\n]+$/, "", s); return s }

# ---- flow parser over the string S from position P --------------------------
function skipws() { while (P <= length(S) && index(" \t\r\n", substr(S, P, 1)) > 0) P++ }
function quoted(    q, c, out) {
  q = substr(S, P, 1); P++; out = ""
  while (P <= length(S)) {
    c = substr(S, P, 1)
    if (q == "\"" && c == "\\") {
      c = substr(S, P + 1, 1); P += 2
      if (c == "n") out = out "\n"
      else if (c == "t") out = out "\t"
      else if (c == "u") { out = out "?"; P += 4 }
      else out = out c
      continue
    }
    if (c == q) {
      if (q == "'" && substr(S, P + 1, 1) == "'") { out = out "'"; P += 2; continue }
      P++
      return out
    }
    out = out c; P++
  }
  return out
}
function plain(stops,    c, out) {
  out = ""
  while (P <= length(S)) {
    c = substr(S, P, 1)
    if (index(stops, c) > 0) break
    out = out c; P++
  }
  return trim(out)
}
function flow(path,    c, key, i) {
  skipws(); c = substr(S, P, 1)
  if (c == "{") {
    P++
    while (P <= length(S)) {
      skipws(); c = substr(S, P, 1)
      if (c == "}") { P++; return }
      if (c == ",") { P++; continue }
      if (c == "\"" || c == "'") key = quoted(); else key = plain(":,}")
      skipws()
      if (substr(S, P, 1) == ":") { P++; flow(join(path, key)) } else emit(join(path, key), "")
    }
    return
  }
  if (c == "[") {
    P++; i = 0
    while (P <= length(S)) {
      skipws(); c = substr(S, P, 1)
      if (c == "]") { P++; return }
      if (c == ",") { P++; continue }
      flow(join(path, i++))
    }
    return
  }
  if (c == "\"" || c == "'") emit(path, quoted())
  else emit(path, plain(",}]"))
}
function parseflow(path, text) { S = text; P = 1; flow(path) }

# ---- line helpers -------------------------------------------------------------
# The line without its comment: a '#' outside quotes, first or after a blank.
function uncomment(s,    i, c, q, prev) {
  q = ""; prev = " "
  for (i = 1; i <= length(s); i++) {
    c = substr(s, i, 1)
    if (q != "") { if (q == "\"" && c == "\\") { i++; c = "x" } else if (c == q) q = "" }
    else if (c == "\"" || c == "'") { if (prev == " " || prev == "\t" || index("[{,:", prev) > 0) q = c }
    else if (c == "#" && (prev == " " || prev == "\t")) return substr(s, 1, i - 1)
    prev = c
  }
  return s
}
# Open brackets minus closed ones, outside quotes.
function depth(s,    i, c, q, d) {
  q = ""; d = 0
  for (i = 1; i <= length(s); i++) {
    c = substr(s, i, 1)
    if (q != "") { if (c == "\\" && q == "\"") i++; else if (c == q) q = "" }
    else if (c == "\"" || c == "'") q = c
    else if (c == "{" || c == "[") d++
    else if (c == "}" || c == "]") d--
  }
  return d
}
# A scalar or flow value at PATH; flow collections may continue on later lines.
function value(path, v) {
  v = trim(v)
  if (v ~ /^[|>][-+0-9]*$/) { emit(path, ""); SKIPIND = CURIND; return }
  if (v ~ /^[[{]/) {
    FPATH = path; FBUF = v; FDEPTH = depth(v)
    if (FDEPTH <= 0) { parseflow(FPATH, FBUF); FBUF = "" }
    return
  }
  if (v ~ /^["']/) { S = v; P = 1; emit(path, quoted()); return }
  emit(path, v)
}
# Splits "key: rest" into KEY and REST; false when the text is no mapping entry.
function splitkey(c,    m) {
  if (c ~ /^["']/) {
    S = c; P = 1; KEY = quoted()
    if (substr(S, P, 1) != ":" || (P < length(S) && substr(S, P + 1, 1) !~ /[ \t]/)) return 0
    REST = substr(S, P + 1); return 1
  }
  m = match(c, /:([ \t]|$)/)
  if (m == 0 || c ~ /^[[{]/) return 0
  KEY = trim(substr(c, 1, m - 1)); REST = substr(c, m + 1)
  return 1
}
# Content C at indentation IND below PARENT: a mapping entry or a value.
function content(ind, parent, c) {
  if (!splitkey(c)) { value(parent, c); return }
  if (trim(REST) == "") { N++; SI[N] = ind; SP[N] = join(parent, KEY); SK[N] = "key"; SN[N] = 0; return }
  value(join(parent, KEY), REST)
}

BEGIN { N = 0; SI[0] = -1; SP[0] = ""; SK[0] = "root"; SN[0] = 0; FBUF = ""; SKIPIND = -1 }
{
  sub(/\r$/, "")
  line = $0
  if (FBUF != "") {
    line = uncomment(line); FBUF = FBUF "\n" line; FDEPTH += depth(line)
    if (FDEPTH <= 0) { parseflow(FPATH, FBUF); FBUF = "" }
    next
  }
  ind = match(line, /[^ ]/) - 1
  if (SKIPIND >= 0) { if (ind < 0 || ind > SKIPIND) next; SKIPIND = -1 }
  line = uncomment(line)
  if (line ~ /^[ \t]*$/ || line ~ /^(---|\.\.\.)([ \t]|$)/ || line ~ /^%/) next
  c = substr(line, ind + 1)
  item = (c == "-" || c ~ /^-[ \t]/)
  while (N > 0 && (SI[N] > ind || (SI[N] == ind && !(item && SK[N] == "key")))) N--
  CURIND = ind
  if (!item) { content(ind, SP[N], c); next }
  path = join(SP[N], SN[N]++)
  rest = substr(c, 2); sub(/^[ \t]+/, "", rest)
  if (rest == "") { N++; SI[N] = ind; SP[N] = path; SK[N] = "item"; SN[N] = 0; next }
  N++; SI[N] = ind; SP[N] = path; SK[N] = "item"; SN[N] = 0
  inner = ind + length(c) - length(rest)
  CURIND = inner
  content(inner, path, rest)
}
END { if (FBUF != "") parseflow(FPATH, FBUF) }
