package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/zbauth/zbauth/bench/internal/harness"
)

// cWhy says why the C library cannot be measured ("": it can).
func cWhy() string {
	return missing(beside(*cbench, "cbench"), "make bench-tools") + missing(stagedLib(), "make lib")
}

func stagedLib() string {
	abs, _ := filepath.Abs(filepath.Join(*root, "build", "stage", "lib", "libzbauth.so"))
	return abs
}

// cBurst sends cbench a burst command and returns its answer: the time
// until the last caller was done, and how many failed.
func cBurst(c *cRunner, cmd string) (time.Duration, int, error) {
	if _, err := fmt.Fprintln(c.in, cmd); err != nil {
		return 0, 0, err
	}
	f, err := c.answer("burst")
	if err != nil {
		return 0, 0, err
	}
	v, err := floats(f, 2)
	if err != nil {
		return 0, 0, err
	}
	return time.Duration(v[0]), int(v[1]), nil
}

// newCTokenPeer starts `cbench LIB tokens`: a client with an empty cache,
// driven through cbench's token, burst and watch commands.
func newCTokenPeer(cl *harness.Cluster) (*tokenPeer, error) {
	c, err := startC(cl, beside(*cbench, "cbench"), stagedLib(), "tokens")
	if err != nil {
		return nil, err
	}
	timed := func() (time.Duration, error) {
		if _, err := fmt.Fprintln(c.in, "token"); err != nil {
			return 0, err
		}
		f, err := c.answer("token")
		if err != nil {
			return 0, err
		}
		if len(f) != 2 || f[1] != "0" {
			return 0, fmt.Errorf("cbench: the token call failed: %v", f)
		}
		ns, err := strconv.ParseFloat(f[0], 64)
		return time.Duration(ns), err
	}
	return &tokenPeer{
		tok:   func(context.Context) error { _, err := timed(); return err },
		close: c.close,
		timed: timed,
		burst: func(n int) (time.Duration, int, error) { return cBurst(c, fmt.Sprintf("burst %d", n)) },
		release: func(n int) (time.Duration, error) {
			d, _, err := cBurst(c, fmt.Sprintf("burst %d nocall", n))
			return d, err
		},
		watch: func(callers int, stop <-chan struct{}, slow time.Duration) (time.Duration, int, int, int, error) {
			if _, err := fmt.Fprintf(c.in, "watch %d %d\n", callers, slow.Milliseconds()); err != nil {
				return 0, 0, 0, 0, err
			}
			if _, err := c.answer("watching"); err != nil {
				return 0, 0, 0, 0, err
			}
			<-stop
			if _, err := fmt.Fprintln(c.in, "stop"); err != nil {
				return 0, 0, 0, 0, err
			}
			f, err := c.answer("watch")
			if err != nil {
				return 0, 0, 0, 0, err
			}
			v, err := floats(f, 4)
			if err != nil {
				return 0, 0, 0, 0, err
			}
			return time.Duration(v[0]), int(v[1]), int(v[2]), int(v[3]), nil
		},
	}, nil
}

// floats parses an answer of n numbers.
func floats(f []string, n int) ([]float64, error) {
	if len(f) != n {
		return nil, fmt.Errorf("cbench: want %d numbers, got %v", n, f)
	}
	v := make([]float64, n)
	for i, s := range f {
		var err error
		if v[i], err = strconv.ParseFloat(s, 64); err != nil {
			return nil, fmt.Errorf("cbench: %v", err)
		}
	}
	return v, nil
}

// cRunner drives a cbench child process (see startC for its modes).
type cRunner struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr bytes.Buffer
}

// startC starts `cbench LIB mode`: serve, serve-async (the calls are
// libzbauth's _async ones: the 64 workers are then 64 calls in flight from
// one thread, each callback starting the next call), or tokens (the cold
// burst and refresh stall commands).
func startC(cl *harness.Cluster, cprog, lib, mode string) (*cRunner, error) {
	c := &cRunner{cmd: exec.Command(cprog, lib, mode)}
	c.cmd.Env = childEnv(cl)
	c.cmd.Stderr = &c.stderr
	var err error
	if c.in, err = c.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c.out = bufio.NewReaderSize(out, 1<<16)
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	if _, err := c.answer("ready"); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// answer reads one line that must start with word and returns its fields.
func (c *cRunner) answer(word string) ([]string, error) {
	line, err := c.out.ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) == 0 || f[0] != word {
		return nil, fmt.Errorf("cbench: unexpected answer %q (%v): %s", firstLine(line, ""), err, firstLine(c.stderr.String(), ""))
	}
	return f[1:], nil
}

func (c *cRunner) seq(n int) ([]float64, error) {
	if _, err := fmt.Fprintf(c.in, "seq %d\n", n); err != nil {
		return nil, err
	}
	f, err := c.answer("seq")
	if err != nil {
		return nil, err
	}
	if len(f) != n {
		return nil, fmt.Errorf("cbench: %d latencies for %d calls", len(f), n)
	}
	lat := make([]float64, n)
	for i, s := range f {
		if lat[i], err = strconv.ParseFloat(s, 64); err != nil {
			return nil, err
		}
	}
	return lat, nil
}

func (c *cRunner) par(n int, d time.Duration) (int64, time.Duration, error) {
	if _, err := fmt.Fprintf(c.in, "par %d %d\n", n, d.Milliseconds()); err != nil {
		return 0, 0, err
	}
	f, err := c.answer("par")
	if err != nil {
		return 0, 0, err
	}
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("cbench: bad par answer %v", f)
	}
	count, err1 := strconv.ParseInt(f[0], 10, 64)
	ns, err2 := strconv.ParseFloat(f[1], 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("cbench: bad par answer %v", f)
	}
	return count, time.Duration(ns), nil
}

func (c *cRunner) close() {
	fmt.Fprintln(c.in, "quit")
	c.in.Close()
	c.cmd.Wait()
}
