//go:build !linux

package core_test

// preemptions is not available here: every latency sample counts.
func preemptions() int64 { return 0 }
