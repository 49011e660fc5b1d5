// A Go service that owns libvendor.so handles through cgo and releases them
// from a finalizer (not a test itself). The planted bug, from the field: a
// request keeps the raw C handle while the Go wrapper becomes garbage; the
// GC runs the finalizer (vendor_destroy) and the request then calls
// vendor_run on the destroyed handle. Close() also destroys without
// clearing the finalizer: a double destroy once the GC runs.
//
//	goapp uad | double | clean
package main

/*
#cgo LDFLAGS: -lvendor
struct vendor_ctx;
struct vendor_ctx *vendor_create(int config);
int vendor_run(struct vendor_ctx *c, int input);
int vendor_destroy(struct vendor_ctx *c);
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"
)

var finalized int32 // finalizers that ran

// Predictor wraps a C handle. Large enough to stay out of Go's tiny
// allocator, whose objects may never be finalized.
type Predictor struct {
	h    *C.struct_vendor_ctx
	name [64]byte
}

func NewPredictor() *Predictor {
	p := &Predictor{h: C.vendor_create(1)}
	runtime.SetFinalizer(p, func(p *Predictor) {
		C.vendor_destroy(p.h)
		atomic.AddInt32(&finalized, 1)
	})
	return p
}

// Close destroys the handle but leaves the finalizer armed (the bug).
func (p *Predictor) Close() { C.vendor_destroy(p.h) }

//go:noinline
func rawHandle() *C.struct_vendor_ctx {
	return NewPredictor().h // the wrapper is garbage as soon as this returns
}

// collect runs the GC until a finalizer has run (finalizers are asynchronous).
func collect() {
	for i := 0; i < 500 && atomic.LoadInt32(&finalized) == 0; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

func main() {
	mode := "uad"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch mode {
	case "uad":
		h := rawHandle()
		collect() // the finalizer destroys the handle
		fmt.Println("run:", int(C.vendor_run(h, 3)))
	case "double":
		p := NewPredictor()
		p.Close()
		p = nil
		collect() // the finalizer destroys it again
		fmt.Println("closed")
	default:
		p := NewPredictor()
		fmt.Println("run:", int(C.vendor_run(p.h, 3)))
		runtime.SetFinalizer(p, nil)
		p.Close()
	}
	// Go exits with a raw exit_group: no atexit, so no exit snapshot. Give
	// the periodic snapshots time to see the final state.
	time.Sleep(300 * time.Millisecond)
}
