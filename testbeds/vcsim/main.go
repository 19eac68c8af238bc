// vcsim-hvkit: VMware's vCenter simulator (govmomi's simulator package, as
// packaged by Debian) with the settings hvkit's vSphere tests need: a fixed
// listen address (or a free port), an inventory sized to an exact VM count,
// strict credentials, TLS with a certificate of its own, a session idle
// timeout, the vAPI REST endpoints and a JSON readiness file.
//
// Built in GOPATH mode against /usr/share/gocode (see build.sh); see
// ../shared/testbeds/vcsim.md for what this vcsim (0.24) implements.
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/ioutil"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
	_ "github.com/vmware/govmomi/vapi/simulator" // registers /rest (tags, content library)
)

// readiness is written to -ready once the socket is listening.
type readiness struct {
	URL             string `json:"url"`
	RestURL         string `json:"restUrl"`
	Host            string `json:"host"`
	Port            int    `json:"port"`
	TLS             bool   `json:"tls"`
	CertificatePem  string `json:"certificatePem,omitempty"`
	CertificateFile string `json:"certificateFile,omitempty"`
	Fingerprint256  string `json:"fingerprint256,omitempty"`
	Username        string `json:"username"`
	Password        string `json:"password"`
	PID             int    `json:"pid"`
	VMs             int    `json:"vms"`
	Hosts           int    `json:"hosts"`
	Clusters        int    `json:"clusters"`
	IdleTimeout     string `json:"idleTimeout"`
	API             bool   `json:"api"`
	StartupMs       int64  `json:"startupMs"`
	Version         string `json:"version"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "vcsim-hvkit: "+format+"\n", args...)
	os.Exit(1)
}

// shape picks standalone hosts, clusters and VMs per host/cluster root pool so
// that (hosts + clusters) * perPool == n. vcsim creates Machine VMs per
// standalone host and per cluster root pool (vcsim.md §4); at most about
// 1,000 VMs per pool keeps the model close to the measured one.
func shape(n int) (hosts, clusters, perPool int) {
	if n <= 0 {
		return 1, 1, 0
	}
	kmin := (n + 999) / 1000
	if kmin < 2 {
		kmin = 2
	}
	k := 0
	for c := kmin; c <= 4*kmin && c <= n; c++ {
		if n%c == 0 {
			k = c
			break
		}
	}
	if k == 0 && n <= 1000 {
		return 0, 1, n // one cluster holds them all
	}
	if k == 0 {
		k = kmin // no small divisor: round up, reported in the readiness file
	}
	return 1, k - 1, (n + k - 1) / k
}

// ownCertificate loads -tls-cert/-tls-key, or generates a self-signed RSA-2048
// certificate valid for localhost, 127.0.0.1 and ::1 and saves it to those
// paths, so a restarted bed keeps the same certificate (and fingerprint).
func ownCertificate(certFile, keyFile string) (tls.Certificate, []byte, error) {
	if certFile != "" && keyFile != "" {
		certPEM, err1 := ioutil.ReadFile(certFile)
		keyPEM, err2 := ioutil.ReadFile(keyFile)
		if err1 == nil && err2 == nil {
			c, err := tls.X509KeyPair(certPEM, keyPEM)
			return c, certPEM, err
		}
		if (err1 != nil && !os.IsNotExist(err1)) || (err2 != nil && !os.IsNotExist(err2)) {
			return tls.Certificate{}, nil, fmt.Errorf("reading %s / %s: %v %v", certFile, keyFile, err1, err2)
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "vcsim-hvkit", Organization: []string{"hvkit test bed"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if certFile != "" && keyFile != "" {
		if err := writeAtomic(keyFile, keyPEM, 0o600); err != nil {
			return tls.Certificate{}, nil, err
		}
		if err := writeAtomic(certFile, certPEM, 0o644); err != nil {
			return tls.Certificate{}, nil, err
		}
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	return c, certPEM, err
}

func fingerprint256(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := ioutil.TempFile(dir, "."+filepath.Base(path)+".tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

func main() {
	started := time.Now()
	listen := flag.String("listen", "127.0.0.1:8989", "listen address host:port (port 0 picks a free port)")
	vms := flag.Int("vms", 4, "number of VMs in the inventory (VPX model)")
	clusterHosts := flag.Int("cluster-hosts", 3, "hosts per cluster")
	datastores := flag.Int("datastores", 1, "local datastores (temp directories, shared by all hosts)")
	autostart := flag.Bool("autostart", true, "power on the inventory's VMs")
	username := flag.String("username", "hvkit", "the only accepted Login user name")
	password := flag.String("password", "hvkit-secret", "the only accepted Login password")
	useTLS := flag.Bool("tls", true, "serve HTTPS")
	tlsCert := flag.String("tls-cert", "", "PEM certificate file (generated and saved here when missing, with -tls-key)")
	tlsKey := flag.String("tls-key", "", "PEM private key file (generated and saved here when missing, with -tls-cert)")
	idle := flag.Duration("idle", 0, "session idle timeout, e.g. 30s (0 = sessions never expire)")
	api := flag.Bool("api", true, "serve the vAPI REST endpoints under /rest (tags, content library)")
	ready := flag.String("ready", "", "readiness JSON file, written atomically once listening and removed on exit")
	flag.Parse()

	if *username == "" || *password == "" {
		fail("-username and -password must not be empty (empty means vcsim accepts any login)")
	}
	if *vms < 0 || *clusterHosts < 1 || *datastores < 1 {
		fail("-vms must be >= 0, -cluster-hosts and -datastores >= 1")
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		fail("-tls-cert and -tls-key go together")
	}

	// Fail with a message instead of the simulator's panic when the address is taken.
	if l, err := net.Listen("tcp", *listen); err != nil {
		fail("cannot listen on %s: %v", *listen, err)
	} else {
		l.Close()
	}

	hosts, clusters, perPool := shape(*vms)
	model := simulator.VPX()
	model.Host = hosts
	model.Cluster = clusters
	model.ClusterHost = *clusterHosts
	model.Machine = perPool
	model.Datastore = *datastores
	model.Autostart = *autostart

	if err := model.Create(); err != nil {
		fail("creating the inventory: %v", err)
	}
	count := model.Count()

	simulator.SessionIdleTimeout = *idle
	model.Service.RegisterEndpoints = *api
	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(*username, *password)}

	var certPEM []byte
	if *useTLS {
		c, pemBytes, err := ownCertificate(*tlsCert, *tlsKey)
		if err != nil {
			model.Remove()
			fail("TLS certificate: %v", err)
		}
		certPEM = pemBytes
		model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12}
	}

	var server *simulator.Server
	func() {
		defer func() {
			if r := recover(); r != nil {
				model.Remove()
				fail("starting the server: %v", r)
			}
		}()
		server = model.Service.NewServer()
	}()

	host, portStr, _ := net.SplitHostPort(server.URL.Host)
	var port int
	fmt.Sscanf(portStr, "%d", &port)
	sdk := *server.URL
	sdk.User = nil
	rest := sdk
	rest.Path = "/rest"

	info := readiness{
		URL:         sdk.String(),
		RestURL:     rest.String(),
		Host:        host,
		Port:        port,
		TLS:         *useTLS,
		Username:    *username,
		Password:    *password,
		PID:         os.Getpid(),
		VMs:         count.Machine,
		Hosts:       count.Host,
		Clusters:    count.Cluster,
		IdleTimeout: idle.String(),
		API:         *api,
		Version:     "govmomi simulator (Debian golang-github-vmware-govmomi-dev)",
	}

	if *useTLS {
		der := server.Certificate().Raw
		info.CertificatePem = string(certPEM)
		info.Fingerprint256 = fingerprint256(der)
		if *ready != "" {
			dir := filepath.Dir(*ready)
			base := strings.TrimSuffix(filepath.Base(*ready), filepath.Ext(*ready))
			pemFile := filepath.Join(dir, base+".cert.pem")
			fpFile := filepath.Join(dir, base+".cert.sha256")
			if err := writeAtomic(pemFile, certPEM, 0o644); err != nil {
				fail("writing %s: %v", pemFile, err)
			}
			if err := writeAtomic(fpFile, []byte(info.Fingerprint256+"\n"), 0o644); err != nil {
				fail("writing %s: %v", fpFile, err)
			}
			if abs, err := filepath.Abs(pemFile); err == nil {
				pemFile = abs
			}
			info.CertificateFile = pemFile
		}
	}
	info.StartupMs = time.Since(started).Milliseconds()

	out, _ := json.MarshalIndent(info, "", "  ")
	if *ready != "" {
		if err := writeAtomic(*ready, append(out, '\n'), 0o600); err != nil {
			server.Close()
			model.Remove()
			fail("writing %s: %v", *ready, err)
		}
	}
	fmt.Printf("vcsim-hvkit listening: %s (%d VMs, %d hosts, %d clusters, startup %d ms)\n",
		info.URL, info.VMs, info.Hosts, info.Clusters, info.StartupMs)
	if *vms != info.VMs {
		fmt.Fprintf(os.Stderr, "vcsim-hvkit: note: -vms %d has no small divisor; the inventory holds %d VMs\n", *vms, info.VMs)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	s := <-sig
	fmt.Printf("vcsim-hvkit: %v, stopping\n", s)
	if *ready != "" {
		if err := os.Remove(*ready); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(os.Stderr, "vcsim-hvkit: removing %s: %v\n", *ready, err)
		}
	}
	server.Close()
	model.Remove()
}
