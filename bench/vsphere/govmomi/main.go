// Command govmomi-bench is the peer that bench/vsphere measures hvkit against: the same inventory
// listing and power tasks done the way a Go user of govmomi would do them, on the same vcsim.
//
// It is built in GOPATH mode against Debian's govmomi 0.24.2 (bench/vsphere/build-govmomi.sh),
// like testbeds/vcsim, so it needs no module proxy.
//
//	govmomi-bench -url https://127.0.0.1:8989/sdk -username U -password P -ca-file cert.pem \
//	  -mode list -rounds 8
//	govmomi-bench ... -mode power -count 200 -rounds 4
//
// Output: one JSON line at the end, {mode, rounds: [ms…], count, maxRssKiB, …}. With -step the
// program prints {"event":"ready"} after login and then runs one round per line read on stdin,
// printing {"event":"round", …} after each, so a harness can interleave its rounds with another
// client's; stdin's end (or fewer lines than -rounds) ends the run early.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
)

// slimProperties is the default property set: what a "name, power state, CPU, memory, IP" table
// needs and nothing more. hvkit fetches more than this (its VM_SUMMARY_PROPERTIES, 11 paths in
// packages/vsphere/src/inventory/vm-properties.ts: what core's Vm requires), so run.ts passes
// that list with -properties for the headline ratio and also runs this 5-path set, for reference.
var slimProperties = []string{
	"name",
	"runtime.powerState",
	"config.hardware.numCPU",
	"config.hardware.memoryMB",
	"guest.ipAddress",
}

type options struct {
	url, username, password, caFile, mode, properties string
	rounds, count                                     int
	step                                              bool
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "", "vCenter SDK URL, e.g. https://127.0.0.1:8989/sdk")
	flag.StringVar(&o.username, "username", "", "login user name")
	flag.StringVar(&o.password, "password", "", "login password")
	flag.StringVar(&o.caFile, "ca-file", "", "PEM file of the CA (or self-signed certificate) to trust")
	flag.StringVar(&o.mode, "mode", "list", "list | power")
	flag.IntVar(&o.rounds, "rounds", 1, "rounds to run (the harness discards its warm-up rounds itself)")
	flag.IntVar(&o.count, "count", 200, "power mode: tasks per round (count/2 VMs, each PowerOff then PowerOn)")
	flag.StringVar(&o.properties, "properties", strings.Join(slimProperties, ","), "list mode: comma-separated VirtualMachine property paths to retrieve")
	flag.BoolVar(&o.step, "step", false, "wait for a line on stdin before each round and report each round")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "govmomi-bench: %v\n", err)
		os.Exit(1)
	}
}

// connect is govmomi.NewClient with one difference: NewClient only offers "verify against the
// system roots" or "insecure", and it sends RetrieveServiceContent before a caller could set a CA,
// so the same three steps are done here with SetRootCAs in between. Certificates stay verified.
func connect(ctx context.Context, o options) (*govmomi.Client, error) {
	u, err := url.Parse(o.url)
	if err != nil {
		return nil, fmt.Errorf("-url: %w", err)
	}
	sc := soap.NewClient(u, false)
	if o.caFile != "" {
		if err := sc.SetRootCAs(o.caFile); err != nil {
			return nil, fmt.Errorf("-ca-file: %w", err)
		}
	}
	vc, err := vim25.NewClient(ctx, sc)
	if err != nil {
		return nil, err
	}
	c := &govmomi.Client{Client: vc, SessionManager: session.NewManager(vc)}
	if err := c.Login(ctx, url.UserPassword(o.username, o.password)); err != nil {
		return nil, err
	}
	return c, nil
}

// listOnce is one listing round: a container view over the whole inventory, one retrieval of
// the list properties into mo.VirtualMachine, and the view destroyed again.
func listOnce(ctx context.Context, c *govmomi.Client, ps []string) ([]mo.VirtualMachine, error) {
	m := view.NewManager(c.Client)
	v, err := m.CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		return nil, err
	}
	var vms []mo.VirtualMachine
	err = v.Retrieve(ctx, []string{"VirtualMachine"}, ps, &vms)
	if derr := v.Destroy(ctx); err == nil {
		err = derr
	}
	return vms, err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func maxRssKiB() int64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return -1
	}
	return usage.Maxrss // KiB on Linux
}

func emit(value interface{}) {
	line, err := json.Marshal(value)
	if err != nil {
		panic(err)
	}
	os.Stdout.Write(append(line, '\n'))
}

func run(o options) error {
	if o.url == "" || o.username == "" {
		return errors.New("-url and -username are required")
	}
	if o.mode != "list" && o.mode != "power" {
		return fmt.Errorf("-mode %q: want list or power", o.mode)
	}
	ctx := context.Background()
	started := time.Now()
	c, err := connect(ctx, o)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	connectMs := ms(time.Since(started))
	defer func() { _ = c.Logout(context.Background()) }()

	listProperties := strings.Split(o.properties, ",")

	var targets []*object.VirtualMachine
	if o.mode == "power" {
		// The first count/2 VMs by name: the same VMs the hvkit side picks. Not timed.
		vms, err := listOnce(ctx, c, []string{"name"})
		if err != nil {
			return fmt.Errorf("listing names: %w", err)
		}
		sort.Slice(vms, func(i, j int) bool { return vms[i].Name < vms[j].Name })
		if len(vms) < o.count/2 {
			return fmt.Errorf("%d VMs, need %d", len(vms), o.count/2)
		}
		for _, vm := range vms[:o.count/2] {
			targets = append(targets, object.NewVirtualMachine(c.Client, vm.Reference()))
		}
	}

	stdin := bufio.NewScanner(os.Stdin)
	if o.step {
		emit(map[string]interface{}{"event": "ready", "connectMs": connectMs})
	}
	rounds := []float64{}
	taskMs := []float64{}
	// Checksums over the last listing, so the harness can see both sides decoded the same values.
	count, withIP, poweredOn, cpuTotal, memoryMiBTotal := 0, 0, 0, 0, 0
	for round := 0; round < o.rounds; round++ {
		if o.step && !stdin.Scan() {
			break
		}
		started := time.Now()
		if o.mode == "list" {
			vms, err := listOnce(ctx, c, listProperties)
			if err != nil {
				return fmt.Errorf("list round %d: %w", round, err)
			}
			count, withIP, poweredOn, cpuTotal, memoryMiBTotal = len(vms), 0, 0, 0, 0
			for i := range vms {
				if vms[i].Guest != nil && vms[i].Guest.IpAddress != "" {
					withIP++
				}
				if vms[i].Runtime.PowerState == "poweredOn" {
					poweredOn++
				}
				if vms[i].Config != nil {
					cpuTotal += int(vms[i].Config.Hardware.NumCPU)
					memoryMiBTotal += int(vms[i].Config.Hardware.MemoryMB)
				}
			}
		} else {
			count = 0
			for _, vm := range targets {
				for _, op := range []func(context.Context) (*object.Task, error){vm.PowerOff, vm.PowerOn} {
					taskStarted := time.Now()
					task, err := op(ctx)
					if err == nil {
						err = task.Wait(ctx)
					}
					if err != nil {
						return fmt.Errorf("power round %d, %s: %w", round, vm.Reference().Value, err)
					}
					taskMs = append(taskMs, ms(time.Since(taskStarted)))
					count++
				}
			}
		}
		elapsed := ms(time.Since(started))
		rounds = append(rounds, elapsed)
		if o.step {
			emit(map[string]interface{}{"event": "round", "ms": elapsed, "count": count})
		}
	}

	result := map[string]interface{}{
		"mode":      o.mode,
		"rounds":    rounds,
		"count":     count,
		"connectMs": connectMs,
		"maxRssKiB": maxRssKiB(),
	}
	if o.mode == "list" {
		result["properties"] = listProperties
		result["checks"] = map[string]int{
			"withIp": withIP, "poweredOn": poweredOn, "cpuTotal": cpuTotal, "memoryMiBTotal": memoryMiBTotal,
		}
	} else {
		result["taskMs"] = taskMs
	}
	emit(result)
	return nil
}
