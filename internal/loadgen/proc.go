package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The server's CPU time and memory, from /proc (Linux).

// clockTicks is USER_HZ, which Linux fixes at 100 for /proc/PID/stat.
const clockTicks = 100

// readCPU returns the user+system CPU time pid has used.
func readCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// After "pid (comm) ": state is field 3; utime and stime are 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unreadable /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("unreadable /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unreadable /proc stat")
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// readMem returns VmRSS and VmHWM of pid, in KiB.
func readMem(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if name == "VmRSS" {
			rss = n
		} else {
			hwm = n
		}
	}
	return rss, hwm, nil
}

type serverUsage struct {
	pid                 int
	cpu, wall           time.Duration
	rssEnd, rssMax, hwm int64 // KiB
}

// procSampler follows a server's RSS during a run.
type procSampler struct {
	pid      int
	start    time.Time
	cpuStart time.Duration
	done     chan struct{}
	wg       sync.WaitGroup
	rssMax   int64
}

func startSampler(pid int) *procSampler {
	p := &procSampler{pid: pid, start: time.Now(), done: make(chan struct{})}
	p.cpuStart, _ = readCPU(pid)
	p.wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if rss, _, err := readMem(pid); err == nil {
				p.rssMax = max(p.rssMax, rss)
			}
			select {
			case <-tick.C:
			case <-p.done:
				return
			}
		}
	})
	return p
}

// stop ends the sampling; nil when the server could not be read at the end
// (it stopped: the report then says nothing of it).
func (p *procSampler) stop() *serverUsage {
	close(p.done)
	p.wg.Wait()
	cpu, err := readCPU(p.pid)
	rss, hwm, err2 := readMem(p.pid)
	if err != nil || err2 != nil {
		return nil
	}
	return &serverUsage{pid: p.pid, cpu: cpu - p.cpuStart, wall: time.Since(p.start), rssEnd: rss, rssMax: max(p.rssMax, rss), hwm: hwm}
}

// findServerPID returns the pid of the local process listening on the URL's
// port when the URL names a loopback address, else 0: it reads the listening
// sockets in /proc/net/tcp{,6} and looks for their inode among the open files
// of the processes it may read.
func findServerPID(u *url.URL) int {
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return 0
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	want, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return 0
	}
	sockets := map[string]bool{}
	for _, path := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" { // 0A: LISTEN
				continue
			}
			_, hexPort, _ := strings.Cut(f[1], ":")
			if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil && p == want && f[9] != "0" {
				sockets["socket:["+f[9]+"]"] = true
			}
		}
	}
	if len(sockets) == 0 {
		return 0
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && sockets[target] {
				return pid
			}
		}
	}
	return 0
}
