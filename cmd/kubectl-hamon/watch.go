package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// mirror holds the objects a list selects, kept up to date by follow from
// a watch on the API (no polling).
type mirror struct {
	mu    sync.Mutex
	objs  map[string]client.Object
	ready bool
}

// items returns the objects sorted by namespace and name.
func (m *mirror) items() []client.Object {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]client.Object, 0, len(m.objs))
	for _, o := range m.objs {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b client.Object) int {
		if a.GetNamespace() != b.GetNamespace() {
			if a.GetNamespace() < b.GetNamespace() {
				return -1
			}
			return 1
		}
		switch {
		case a.GetName() < b.GetName():
			return -1
		case a.GetName() > b.GetName():
			return 1
		}
		return 0
	})
	return out
}

func (m *mirror) isReady() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ready
}

func objKey(o client.Object) string { return o.GetNamespace() + "/" + o.GetName() }

// wake wakes the reader of changed without blocking: one pending wake-up
// is enough, as the reader reads the whole mirror.
func wake(changed chan<- struct{}) {
	select {
	case changed <- struct{}{}:
	default:
	}
}

// follow keeps m equal to what newList with opts selects: it lists, then
// watches from the list's resourceVersion, and lists again when the watch
// ends or its resourceVersion has expired. It signals changed after the
// first list and after every change, and returns when ctx ends (nil) or
// when the API refuses the list or the watch.
func follow(ctx context.Context, c client.WithWatch, newList func() client.ObjectList, opts []client.ListOption,
	m *mirror, changed chan<- struct{}) error {
	for {
		list := newList()
		if err := c.List(ctx, list, opts...); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return err
		}
		objs := map[string]client.Object{}
		for _, it := range items {
			if o, ok := it.(client.Object); ok {
				objs[objKey(o)] = o
			}
		}
		m.mu.Lock()
		m.objs, m.ready = objs, true
		m.mu.Unlock()
		wake(changed)

		lo := (&client.ListOptions{}).ApplyOptions(opts)
		lo.Raw = &metav1.ListOptions{ResourceVersion: list.GetResourceVersion(), AllowWatchBookmarks: true}
		w, err := c.Watch(ctx, newList(), lo)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		err = apply(ctx, w, m, changed)
		w.Stop()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
			return err
		}
		// The watch ended (the API server closes them now and then) or
		// expired: list again, after a breath.
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// apply applies the events of w to m until w ends.
func apply(ctx context.Context, w watch.Interface, m *mirror, changed chan<- struct{}) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil
			}
			switch ev.Type {
			case watch.Added, watch.Modified, watch.Deleted:
				o, ok := ev.Object.(client.Object)
				if !ok {
					continue
				}
				m.mu.Lock()
				if ev.Type == watch.Deleted {
					delete(m.objs, objKey(o))
				} else {
					m.objs[objKey(o)] = o
				}
				m.mu.Unlock()
				wake(changed)
			case watch.Error:
				if st, ok := ev.Object.(*metav1.Status); ok {
					return &apierrors.StatusError{ErrStatus: *st}
				}
				return errors.New("the watch ended with an error")
			case watch.Bookmark:
			}
		}
	}
}

// followers runs one follow per mirror and reports the first error.
type followers struct {
	changed chan struct{}
	errs    chan error
	mirrors []*mirror
}

func newFollowers() *followers {
	return &followers{changed: make(chan struct{}, 1), errs: make(chan error, 8)}
}

// add starts following what newList with opts selects.
func (f *followers) add(ctx context.Context, c client.WithWatch, what string, newList func() client.ObjectList,
	opts ...client.ListOption) *mirror {
	m := &mirror{}
	f.mirrors = append(f.mirrors, m)
	go func() {
		if err := follow(ctx, c, newList, opts, m, f.changed); err != nil {
			f.errs <- fmt.Errorf("watching %s: %w", what, err)
		}
	}()
	return m
}

// ready says every mirror has been listed once.
func (f *followers) ready() bool {
	for _, m := range f.mirrors {
		if !m.isReady() {
			return false
		}
	}
	return true
}
