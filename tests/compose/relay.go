// relay.go: the compose test's stand-in for a Go service (tron-relay), built static (CGO_ENABLED=0: Go's own
// resolver and raw system calls), so only torwrap's seccomp supervisor can route it. Every SERVICE_PERIOD
// seconds: one HTTP GET to TRON_API_URL (an Internet name, through Tor) and one request to each internal
// service by name (direct); one line per attempt on standard output, like service.py.
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// summary: the page's title, or its first line.
func summary(body string) string {
	if i := strings.Index(body, "<title>"); i >= 0 {
		if j := strings.Index(body[i:], "</title>"); j >= 0 {
			return strings.TrimSpace(body[i+7 : i+j])
		}
	}
	return strings.SplitN(strings.TrimSpace(body), "\n", 2)[0]
}

func external(client *http.Client, url string) {
	resp, err := client.Get(url)
	if err != nil {
		fmt.Println("external error", strings.ReplaceAll(err.Error(), "\n", " "))
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println("external ok", resp.StatusCode, summary(string(body)))
}

func internal(name string, port int) {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(name, strconv.Itoa(port)), 10*time.Second)
	if err != nil {
		fmt.Println(name, "error", err)
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(c, "PING\r\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		fmt.Println(name, "error", err)
		return
	}
	fmt.Println(name, "ok", strings.TrimSpace(line))
}

func main() {
	url := os.Getenv("TRON_API_URL")
	if url == "" {
		url = "https://api.trongrid.io/"
	}
	period := 5.0
	if p, err := strconv.ParseFloat(os.Getenv("SERVICE_PERIOD"), 64); err == nil {
		period = p
	}
	// No proxy from the environment: torwrap is what routes the connection.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 60 * time.Second}
	fmt.Println("service tron-relay started, pid", os.Getpid())
	for {
		external(client, url)
		internal("lucid-mongodb", 27017)
		internal("lucid-redis", 6379)
		time.Sleep(time.Duration(period * float64(time.Second)))
	}
}
