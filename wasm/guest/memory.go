//go:build wasip1

package main

import (
	"time"
	"unsafe"

	"github.com/zbauth/zbauth/core"
)

// Buffers the host writes into. zb_alloc hands out Go byte slices kept
// alive (pinned) in allocs until zb_free; Go's collector does not move
// objects, so the address stays valid. Arguments the host passes to an
// export must lie inside one live allocation: anything else is refused
// with an ARGUMENT error instead of being read. Only exports touch allocs,
// never across a blocking point, so it needs no lock.
var allocs = map[uint32][]byte{}

// maxAlloc bounds one zb_alloc (1 GiB); the instance's memory limit is
// usually far lower and fails first.
const maxAlloc = 1 << 30

// zb_alloc(size) -> ptr: a buffer of size bytes owned by the host until it
// passes ptr to zb_free. Returns 0 for size <= 0 or above 1 GiB. Running
// out of the instance's memory traps (the Go runtime aborts).
//
//go:wasmexport zb_alloc
func zbAlloc(size int32) (ptr uint32) {
	defer func() {
		if recover() != nil {
			ptr = 0
		}
	}()
	if size <= 0 || size > maxAlloc {
		return 0
	}
	b := make([]byte, size)
	p := ptrOf(b)
	allocs[p] = b
	return p
}

// zb_free(ptr): release a buffer from zb_alloc. Unknown pointers and 0 are
// ignored.
//
//go:wasmexport zb_free
func zbFree(ptr uint32) {
	defer func() { recover() }()
	delete(allocs, ptr)
}

// borrow returns the bytes [ptr, ptr+n) if they lie within one live
// allocation. n == 0 is the empty slice whatever ptr is.
func borrow(ptr uint32, n int32) ([]byte, bool) {
	if n == 0 {
		return []byte{}, true
	}
	if n < 0 {
		return nil, false
	}
	if b, ok := allocs[ptr]; ok { // the common case: the start of a buffer
		if int64(n) <= int64(len(b)) {
			return b[:n:n], true
		}
		return nil, false
	}
	for start, b := range allocs {
		if ptr > start && uint64(ptr)+uint64(n) <= uint64(start)+uint64(len(b)) {
			off := ptr - start
			return b[off : off+uint32(n) : off+uint32(n)], true
		}
	}
	return nil, false
}

func badBuffer(op string) error {
	return &core.Error{Kind: core.KindArgument, Op: op, Msg: "a buffer argument does not lie within a zb_alloc buffer"}
}

// ptrOf is the linear-memory address of b's first byte (0 when empty).
func ptrOf(b []byte) uint32 {
	if len(b) == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

// stringBytes views s as bytes without copying; only for handing to the
// host, which copies during the call.
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func msDuration(ms int32) time.Duration { return time.Duration(ms) * time.Millisecond }
