// SPDX-License-Identifier: MIT
// A Go program on libshmkit through cgo: it opens two queues a C program (or the shmkit
// tool) made, and answers every message of the first on the second, prefixed "go: ".
//
//	go run . posix:/requests posix:/replies 3
//
// Build it against a build tree with CGO_CFLAGS=-I<src>/include and
// CGO_LDFLAGS="-L<build> -Wl,-rpath,<build>", or against an installed shmkit as is.
package main

/*
#cgo LDFLAGS: -lshmkit
#include <shmkit.h>
#include <stdlib.h>
*/
import "C"

import (
	"fmt"
	"os"
	"strconv"
	"unsafe"
)

const timeoutNs = 30 * 1000 * 1000 * 1000 // generous: the other side may start late

// Queue is one attached shmkit queue.
type Queue struct {
	q   *C.struct_shmkit_queue
	uri string
}

// shmkitError turns a negative errno from libshmkit into a Go error.
func shmkitError(what, uri string, ret C.long) error {
	return fmt.Errorf("%s %s: %s", what, uri, C.GoString(C.shmkit_strerror(C.int(ret))))
}

// Open attaches to the queue at uri.
func Open(uri string) (*Queue, error) {
	curi := C.CString(uri)
	defer C.free(unsafe.Pointer(curi))
	var q *C.struct_shmkit_queue
	if r := C.shmkit_queue_open(&q, curi); r < 0 {
		return nil, shmkitError("open", uri, C.long(r))
	}
	return &Queue{q: q, uri: uri}, nil
}

// Send copies msg into the queue, waiting while it is full.
func (q *Queue) Send(msg []byte) error {
	var p unsafe.Pointer
	if len(msg) > 0 {
		p = unsafe.Pointer(&msg[0])
	}
	if r := C.shmkit_queue_send(q.q, p, C.size_t(len(msg)), timeoutNs); r < 0 {
		return shmkitError("send", q.uri, C.long(r))
	}
	return nil
}

// Recv takes the next message into buf and returns it, waiting while the queue is empty.
func (q *Queue) Recv(buf []byte) ([]byte, error) {
	n := C.shmkit_queue_recv(q.q, unsafe.Pointer(&buf[0]), C.size_t(len(buf)), timeoutNs)
	if n < 0 {
		return nil, shmkitError("recv", q.uri, C.long(n))
	}
	return buf[:n], nil
}

// Close detaches (the queue stays).
func (q *Queue) Close() { C.shmkit_queue_close(q.q) }

func run(in, out string, count int) error {
	requests, err := Open(in)
	if err != nil {
		return err
	}
	defer requests.Close()
	replies, err := Open(out)
	if err != nil {
		return err
	}
	defer replies.Close()
	buf := make([]byte, 65536)
	for i := 0; i < count; i++ {
		msg, err := requests.Recv(buf)
		if err != nil {
			return err
		}
		if err := replies.Send(append([]byte("go: "), msg...)); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: shmkit-go-example REQUEST-QUEUE REPLY-QUEUE COUNT")
		os.Exit(2)
	}
	count, err := strconv.Atoi(os.Args[3])
	if err == nil {
		err = run(os.Args[1], os.Args[2], count)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "shmkit-go-example:", err)
		os.Exit(1)
	}
}
