// hostile_go: the Go attacks of tests/integration/hostile.sh (issue 25), built static (CGO_ENABLED=0: Go's own
// resolver, raw system calls, no libc) from the standard library only, offline.
//
//	hostile_go get URL     class 9: an ordinary Go client (net/http): LD_PRELOAD never loads into it
//	hostile_go port NAME   class 2: Go's own resolver, dialling the port besides 53 on which the nameserver of
//	                       /etc/resolv.conf listens (Docker's embedded DNS does), read from /proc/net/udp
//
// "start ..." first, then one line per step. The verdict is the harness's, from the wire and the trap's log.
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// nameserver: the first nameserver of /etc/resolv.conf.
func nameserver() net.IP {
	f, err := os.Open("/etc/resolv.conf")
	if err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			w := strings.Fields(s.Text())
			if len(w) >= 2 && w[0] == "nameserver" {
				if ip := net.ParseIP(w[1]).To4(); ip != nil {
					return ip
				}
			}
		}
	}
	return net.IPv4(127, 0, 0, 11).To4()
}

// otherPort: the UDP port besides 53 on which IP listens, from /proc/net/udp (addresses in host order: x86).
func otherPort(ip net.IP) int {
	want := fmt.Sprintf("%02X%02X%02X%02X", ip[3], ip[2], ip[1], ip[0])
	f, err := os.Open("/proc/net/udp")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		w := strings.Fields(s.Text())
		if len(w) < 2 {
			continue
		}
		a := strings.Split(w[1], ":")
		if len(a) != 2 || a[0] != want {
			continue
		}
		if p, err := strconv.ParseUint(a[1], 16, 16); err == nil && p != 53 {
			return int(p)
		}
	}
	return 0
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: hostile_go get URL | port NAME")
		os.Exit(2)
	}
	fmt.Println("start " + strings.Join(os.Args[1:], " "))
	switch os.Args[1] {
	case "get":
		c := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second}
		resp, err := c.Get(os.Args[2])
		if err != nil {
			fmt.Println("get:", err)
			return
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		resp.Body.Close()
		fmt.Printf("get: %s, %q\n", resp.Status, strings.TrimSpace(string(b)))
	case "port":
		ns := nameserver()
		port := otherPort(ns)
		fmt.Printf("UDP port of %s besides 53: %d\n", ns, port)
		if port == 0 {
			os.Exit(1)
		}
		server := net.JoinHostPort(ns.String(), strconv.Itoa(port))
		r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", server)
		}}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		addrs, err := r.LookupHost(ctx, os.Args[2])
		fmt.Printf("lookup %s at %s: %v %v\n", os.Args[2], server, addrs, err)
	default:
		fmt.Fprintln(os.Stderr, "hostile_go: unknown attack", os.Args[1])
		os.Exit(2)
	}
}
