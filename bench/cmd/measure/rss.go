package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/zbauth/zbauth/bench/internal/harness"
	"github.com/zbauth/zbauth/bench/internal/result"
)

// rss runs a fresh process per surface that makes N topology calls and
// reports its resident set (VmRSS) and peak (VmHWM) from /proc/self/status.
func rss(cl *harness.Cluster, p params) error {
	self := beside(*rsschild, "rsschild")
	if _, err := os.Stat(self); err != nil {
		return fmt.Errorf("the memory child: %w (go build -o %s ./cmd/rsschild)", err, self)
	}
	type surf struct {
		surface string
		cmd     func() (*exec.Cmd, string) // "" or why it is skipped
	}
	py, pyWhy := pythonCmd()
	node, nodeWhy := nodeCmd()
	n := strconv.Itoa(p.rssCalls)
	surfaces := []surf{
		{"go-floor", func() (*exec.Cmd, string) { return exec.Command(self, "floor", n), "" }},
		{"go", func() (*exec.Cmd, string) { return exec.Command(self, "zbauth", n), "" }},
		{"go-xoauth2", func() (*exec.Cmd, string) {
			return exec.Command(self, "xoauth2", n), ""
		}},
		{"python", func() (*exec.Cmd, string) {
			if pyWhy != "" {
				return nil, pyWhy
			}
			return exec.Command(py, "-c", `import sys, zbauth
c = zbauth.Client()
for _ in range(int(sys.argv[1])):
    c.topology()
sys.stdout.write(open("/proc/self/status").read())
c.close()`, n), ""
		}},
		{"node", func() (*exec.Cmd, string) {
			if nodeWhy != "" {
				return nil, nodeWhy
			}
			return exec.Command(node, "-e", `const z = require(process.argv[1]);
(async () => {
  const c = new z.Client();
  for (let i = 0; i < Number(process.argv[2]); i++) await c.topology();
  process.stdout.write(require('fs').readFileSync('/proc/self/status', 'utf8'));
  c.close();
})().catch((e) => { console.error(e); process.exit(1); });`, nodeDir(), n), ""
		}},
	}
	label := fmt.Sprintf("rss after %s topology calls", humanCount(p.rssCalls))
	for r := 0; r < p.rssRuns; r++ {
		for _, s := range surfaces {
			row := result.Row{Surface: s.surface, Name: label, Unit: "MiB", Baseline: "go-floor/" + label}
			hwm := result.Row{Surface: s.surface, Name: "peak rss (VmHWM), same process", Unit: "MiB", Baseline: "go-floor/peak rss (VmHWM), same process"}
			if s.surface == "go-floor" {
				row.Baseline, hwm.Baseline = "", ""
			}
			cmd, why := s.cmd()
			if why != "" {
				set.Get(row).Note = why
				continue
			}
			cmd.Env = childEnv(cl)
			outb, err := cmd.Output()
			if err != nil && (s.surface == "python" || s.surface == "node") {
				// Another surface's breakage is theirs to report; note it.
				set.Get(row).Note = "failed: " + firstLine(stderrOf(err), err.Error())
				logf("rss: %s: %s", s.surface, set.Get(row).Note)
				continue
			}
			if err != nil {
				return fmt.Errorf("%s: %w: %s", s.surface, err, stderrOf(err))
			}
			rssKB, hwmKB, err := parseStatus(outb)
			if err != nil {
				return fmt.Errorf("%s: %w", s.surface, err)
			}
			set.Add(row, rssKB/1024)
			set.Add(hwm, hwmKB/1024)
		}
	}
	return nil
}

func humanCount(n int) string {
	if n%1000 == 0 {
		return fmt.Sprintf("%dk", n/1000)
	}
	return strconv.Itoa(n)
}

func parseStatus(b []byte) (rss, hwm float64, err error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && (f[0] == "VmRSS:" || f[0] == "VmHWM:") {
			v, _ := strconv.ParseFloat(f[1], 64)
			if f[0] == "VmRSS:" {
				rss = v
			} else {
				hwm = v
			}
		}
	}
	if rss == 0 {
		return 0, 0, errors.New("no VmRSS in the child's output")
	}
	return rss, hwm, nil
}
