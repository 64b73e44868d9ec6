package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/zbauth/zbauth/bench/internal/harness"
	"github.com/zbauth/zbauth/bench/internal/result"
)

// startup times whole processes that print the topology once and exit:
// process start to first topology, token request included.
func startup(cl *harness.Cluster, p params) error {
	type surf struct {
		surface string
		argv    []string
		why     string
	}
	r := *root
	var ss []surf
	ss = append(ss, surf{surface: "os", argv: []string{"/bin/true"}})
	cli := filepath.Join(r, "bin", "zbauth")
	ss = append(ss, surf{surface: "cli", argv: []string{cli, "topology"}, why: missing(cli, "make build")})
	cprog := filepath.Join(r, "build", "c", "topology")
	ss = append(ss, surf{surface: "c", argv: []string{cprog}, why: missing(cprog, "make build/c/topology")})
	py, pyWhy := pythonCmd()
	ss = append(ss, surf{surface: "python", argv: []string{py, "-c", "import zbauth; zbauth.Client().topology()"}, why: pyWhy})
	node, nodeWhy := nodeCmd()
	ss = append(ss, surf{surface: "node", argv: []string{node, "-e",
		"const z=require(process.argv[1]); const c=new z.Client(); c.topology().then(()=>c.close(), (e)=>{console.error(e); process.exit(1)})", nodeDir()},
		why: nodeWhy})
	const name = "startup to first topology"
	env := childEnv(cl)
	// A failing surface is reported, not fatal: the others still count.
	broken := map[string]string{}
	for i := 0; i < p.startupRuns; i++ {
		for _, s := range ss {
			row := result.Row{Surface: s.surface, Name: name, Unit: "ms",
				Note: "whole process: start, one token request, GET /v1/topology, exit"}
			if s.surface == "os" {
				row.Note = "reference: fork+exec of /bin/true"
			}
			if s.why != "" || broken[s.surface] != "" {
				set.Get(row).Note = s.why + broken[s.surface]
				continue
			}
			cmd := exec.Command(s.argv[0], s.argv[1:]...)
			cmd.Env = env
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			t0 := time.Now()
			err := cmd.Run()
			d := time.Since(t0)
			if err != nil {
				broken[s.surface] = "failed: " + firstLine(stderr.String(), err.Error())
				logf("startup: %s: %s", s.surface, broken[s.surface])
				set.Get(row).Note = broken[s.surface]
				continue
			}
			set.Add(row, ms(d))
		}
	}
	return nil
}
