//go:build wasip1 && zbauth_testexports

package main

// Test-only exports, compiled in with -tags zbauth_testexports (the host
// package's tests build such a module; zbauth.wasm never has them). They
// let the tests play a misbehaving guest.

import (
	"context"
	"errors"
	"os"
	"strings"
	"time"

	"github.com/zbauth/zbauth/core"
)

// zbtest_raw(call, client, url_ptr, url_len): a GET of an arbitrary URL
// through the client's host transport, without the core's checks: the
// host must refuse origins it was not configured for. Result payload: the
// response body.
//
//go:wasmexport zbtest_raw
func zbtestRaw(call, client int32, urlPtr uint32, urlLen int32) int32 {
	defer recoverExport(call, "raw")
	u, ok := borrow(urlPtr, urlLen)
	if !ok {
		finish(call, nil, nil, badBuffer("raw"))
		return wake()
	}
	target := string(u)
	startOp(call, "raw", 0, func(ctx context.Context) ([]byte, *core.Response, error) {
		resp, err := hostTransport{client: client}.RoundTrip(ctx, &core.Request{Method: "GET", URL: target, MaxBody: 1 << 20})
		if err != nil {
			return nil, nil, &core.Error{Kind: core.KindTransport, Op: "raw", Msg: "request failed", Err: err}
		}
		return resp.Body, nil, nil
	})
	return wake()
}

// zbtest_forge(call, what): call a host import with a forged pointer or
// length. what: 1 call_done with an out-of-range pointer, 2 call_done with
// a huge length, 3 http_start with an out-of-range head, 4 http_start with
// a negative body length other than -1. Returns the import's result (for
// http_start) or 0.
//
//go:wasmexport zbtest_forge
func zbtestForge(call, what int32) int32 {
	switch what {
	case 1:
		hostCallDone(call, 0, 0xFFFF_FFF0, 64)
	case 2:
		hostCallDone(call, 0, 16, 0x7FFF_FFFF)
	case 3:
		return hostHTTPStart(1<<30, 1, 0xFFFF_0000, 0x10000, 0, -1, 0, 0)
	case 4:
		return hostHTTPStart(1<<30, 1, 16, 8, 16, -7, 0, 0)
	}
	return 0
}

// zbtest_panic(call): an operation whose goroutine panics; the guest
// recovers and reports an INTERNAL error.
//
//go:wasmexport zbtest_panic
func zbtestPanic(call int32) int32 {
	defer recoverExport(call, "panic")
	startOp(call, "panic", 0, func(context.Context) ([]byte, *core.Response, error) {
		panic("test panic inside an operation")
	})
	return wake()
}

// zbtest_panic_text(call, text_ptr, text_len): like zbtest_panic, with the
// panic value given by the host (the secret tests put a client secret and
// an access token in it; the guest must not report them).
//
//go:wasmexport zbtest_panic_text
func zbtestPanicText(call int32, textPtr uint32, textLen int32) int32 {
	defer recoverExport(call, "panic")
	b, ok := borrow(textPtr, textLen)
	if !ok {
		finish(call, nil, nil, badBuffer("panic"))
		return wake()
	}
	text := string(b)
	startOp(call, "panic", 0, func(context.Context) ([]byte, *core.Response, error) {
		panic(text)
	})
	return wake()
}

// zbtest_trap_text(text_ptr, text_len): like zbtest_trap, with the panic
// value given by the host; the Go runtime prints it on stderr, which the
// host quotes in its trap error and forwards.
//
//go:wasmexport zbtest_trap_text
func zbtestTrapText(textPtr uint32, textLen int32) int32 {
	b, _ := borrow(textPtr, textLen)
	text := string(b)
	go func() { panic(text) }()
	quiesce()
	return wake()
}

// zbtest_trap(): a panic on a goroutine nobody recovers: the Go runtime
// aborts and the instance traps.
//
//go:wasmexport zbtest_trap
func zbtestTrap() int32 {
	go func() { panic("test panic on an unrecovered goroutine") }()
	quiesce()
	return wake()
}

// zbtest_spin(): never returns (for the host's export watchdog).
//
//go:wasmexport zbtest_spin
func zbtestSpin() int32 {
	for n := 0; ; n++ {
		progress += uint64(n & 1)
	}
}

// zbtest_silent(call): an operation the guest never reports (a guest that
// lost the call): no call_done, now or later, and zb_cancel ignores it.
//
//go:wasmexport zbtest_silent
func zbtestSilent(call int32) int32 {
	return wake()
}

// zbtest_file(call, op, path_ptr, path_len): what the guest can do with a
// file of its WASI file system, directly with package os: op 1 reads the
// file (result payload: its contents), 2 writes to it, 3 lists it as a
// directory (payload: the names, one a line), 4 creates it. A failure is
// an ARGUMENT error whose cause is the os error.
//
//go:wasmexport zbtest_file
func zbtestFile(call, op int32, pathPtr uint32, pathLen int32) int32 {
	defer recoverExport(call, "file")
	b, ok := borrow(pathPtr, pathLen)
	if !ok {
		finish(call, nil, nil, badBuffer("file"))
		return wake()
	}
	path := string(b)
	var out []byte
	var err error
	switch op {
	case 1:
		out, err = os.ReadFile(path)
	case 2:
		var f *os.File
		if f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0); err == nil {
			_, err = f.Write([]byte("x"))
			err = errors.Join(err, f.Close())
		}
	case 3:
		var ents []os.DirEntry
		ents, err = os.ReadDir(path)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		out = []byte(strings.Join(names, "\n"))
	case 4:
		err = os.WriteFile(path, []byte("x"), 0o600)
	}
	if err != nil {
		finish(call, nil, nil, &core.Error{Kind: core.KindArgument, Op: "file", Msg: "file operation failed", Err: err})
	} else {
		finish(call, out, nil, nil)
	}
	return wake()
}

// zbtest_unnoted(call): an operation that sleeps 300 ms on a timer the
// guest never notes (a core timer missing its wakeup.Note): the guest's
// poll keeps the host calling in, so the operation still ends.
//
//go:wasmexport zbtest_unnoted
func zbtestUnnoted(call int32) int32 {
	defer recoverExport(call, "unnoted")
	startOp(call, "unnoted", 0, func(context.Context) ([]byte, *core.Response, error) {
		time.Sleep(300 * time.Millisecond)
		return []byte("slept"), nil, nil
	})
	return wake()
}
