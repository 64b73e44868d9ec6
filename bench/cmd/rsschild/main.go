// Command rsschild makes N sequential topology calls with one peer and
// prints its /proc/self/status, from which measure reads the resident set
// (VmRSS) and its peak (VmHWM). It links only what its peers need (not
// Camunda's gRPC client), so that its memory is theirs.
//
//	rsschild floor|zbauth|xoauth2 N
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/zbauth/zbauth/bench/internal/harness"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rsschild:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 3 {
		return fmt.Errorf("usage: rsschild floor|zbauth|xoauth2 N")
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil {
		return err
	}
	cl, err := harness.Connect()
	if err != nil {
		return err
	}
	defer cl.Close()
	peer, err := cl.NewTopoPeer(os.Args[1])
	if err != nil {
		return err
	}
	defer peer.Close()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		if err := peer.Get(ctx); err != nil {
			return err
		}
	}
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(st)
	return err
}
