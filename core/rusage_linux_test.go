//go:build linux

package core_test

import "syscall"

// preemptions counts how often the OS involuntarily switched the calling
// thread out. A latency sample taken while it changed measures the
// machine's load, not the code under test.
func preemptions() int64 {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD
	if syscall.Getrusage(rusageThread, &ru) != nil {
		return 0
	}
	return ru.Nivcsw
}
