// Package flight is the single flight that core's token cache and the Wasm
// host share: one piece of work, any number of callers waiting for its
// outcome, each either on a channel (Done) or by a callback (Join), so that
// a waiter costs no goroutine.
package flight

import "sync"

// Flight is one piece of work in progress, or finished.
type Flight[T any] struct {
	done chan struct{}
	mu   sync.Mutex
	cbs  []func(T, error) // nil once finished
	over bool
	val  T
	err  error
}

// New returns a flight in progress; whoever does the work calls Finish.
func New[T any]() *Flight[T] { return &Flight[T]{done: make(chan struct{})} }

// Finished returns a flight that is over already, with v and err.
func Finished[T any](v T, err error) *Flight[T] {
	f := New[T]()
	f.Finish(v, err)
	return f
}

// Done is closed once the outcome is set; Result then returns it.
func (f *Flight[T]) Done() <-chan struct{} { return f.done }

// Result is the outcome; call it after Done is closed.
func (f *Flight[T]) Result() (T, error) { return f.val, f.err }

// Join has cb called exactly once with the outcome, on the goroutine that
// calls Finish, in the order of joining, and reports true; cb must return
// promptly. When the flight is over already it reports false and never
// calls cb: the caller takes Result itself, on its own goroutine.
func (f *Flight[T]) Join(cb func(T, error)) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.over {
		return false
	}
	f.cbs = append(f.cbs, cb)
	return true
}

// Finish sets the outcome, wakes the waiters and calls the joined
// callbacks. Only the first call counts.
func (f *Flight[T]) Finish(v T, err error) {
	f.mu.Lock()
	if f.over {
		f.mu.Unlock()
		return
	}
	f.val, f.err, f.over = v, err, true
	cbs := f.cbs
	f.cbs = nil
	close(f.done)
	f.mu.Unlock()
	for _, cb := range cbs {
		cb(v, err)
	}
}

// Group holds at most one flight at a time: callers that arrive while one
// is running join it, and the next caller after it ends starts another.
type Group[T any] struct {
	mu  sync.Mutex
	cur *Flight[T]
}

// Do returns the flight in progress, or starts work on a new goroutine as
// the new one. The flight leaves the group before its outcome is handed
// out, so a caller woken by it that asks again starts a new one.
func (g *Group[T]) Do(work func() (T, error)) *Flight[T] {
	g.mu.Lock()
	f := g.cur
	if f == nil {
		f = New[T]()
		g.cur = f
		go func() {
			var v T
			var err error
			defer func() {
				g.mu.Lock()
				g.cur = nil
				g.mu.Unlock()
				f.Finish(v, err)
			}()
			v, err = work()
		}()
	}
	g.mu.Unlock()
	return f
}
