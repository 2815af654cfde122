package portforward

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
)

// An API server that never answers the upgrade (a dead node: the API server waits for the
// kubelet) must not hold Forward beyond its context: client-go's dial takes no context.
func TestForwardReturnsWhenContextEndsDuringDial(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	let := func() { once.Do(func() { close(release) }) }
	reached := make(chan struct{}, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		reached <- struct{}{}
		<-release
		http.Error(w, "node gone", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	defer let()
	cfg := &restclient.Config{Host: srv.URL}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := &APIForwarder{Config: cfg, Client: client}
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		f   *Forward
		err error
	}
	done := make(chan result, 1)
	go func() {
		f, err := a.Forward(ctx, "kube-system", "etcd-cp-1", 2379)
		done <- result{f, err}
	}()
	<-reached // the dial is now stuck in the API server
	cancel()
	// The server holds the dial until released, which only this watchdog does, long after any
	// reasonable return: Forward returning first proves it does not wait for the dial.
	watchdog := time.AfterFunc(time.Minute, let)
	r := <-done
	if !watchdog.Stop() {
		t.Fatal("Forward returned only after the API server let the dial go")
	}
	if r.f != nil || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("want a context.Canceled error and no forward, got %v, %v", r.f, r.err)
	}
}
