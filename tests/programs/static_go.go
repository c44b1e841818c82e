// static_go: a statically linked Go client (CGO_ENABLED=0: Go's own resolver and raw system calls, no libc)
// for the seccomp supervisor's tests (tests/integration/static.sh builds it offline from the standard library).
//
//	static_go get URL        prints the body of an HTTP GET (net/http)
//	static_go resolve NAME   prints the addresses Go's resolver gives
//	static_go dial HOST:PORT connects (net.Dial), prints "connected" and the local address's family
//	static_go parallel N URL N concurrent GETs; prints "fetched OK/N"
//
// Exit status 0 on success, 2 on failure (the error on stderr).
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func fail(err error) {
	fmt.Fprintln(os.Stderr, "static_go:", err)
	os.Exit(2)
}

func client() *http.Client {
	// No proxy from the environment: torwrap is what routes the connection.
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

func get(url string) (string, error) {
	resp, err := client().Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: static_go get URL | resolve NAME | dial HOST:PORT | parallel N URL")
		os.Exit(1)
	}
	switch os.Args[1] {
	case "get":
		body, err := get(os.Args[2])
		if err != nil {
			fail(err)
		}
		fmt.Print(body)
	case "resolve":
		r := &net.Resolver{PreferGo: true}
		addrs, err := r.LookupHost(context.Background(), os.Args[2])
		if err != nil {
			fail(err)
		}
		for _, a := range addrs {
			fmt.Println(a)
		}
	case "dial":
		c, err := net.DialTimeout("tcp", os.Args[2], 20*time.Second)
		if err != nil {
			fail(err)
		}
		fmt.Println("connected", c.LocalAddr().Network())
		c.Close()
	case "parallel":
		n, err := strconv.Atoi(os.Args[2])
		if err != nil || len(os.Args) < 4 {
			fail(fmt.Errorf("parallel N URL"))
		}
		var ok int64
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if body, err := get(os.Args[3]); err == nil && len(body) > 0 {
					atomic.AddInt64(&ok, 1)
				} else if err != nil {
					fmt.Fprintln(os.Stderr, "static_go:", err)
				}
			}()
		}
		wg.Wait()
		fmt.Printf("fetched %d/%d\n", ok, n)
		if int(ok) != n {
			os.Exit(2)
		}
	default:
		fail(fmt.Errorf("unknown command %s", os.Args[1]))
	}
}
