// Command e2e-up starts an e2e cluster outside of `go test` for manual poking, prints how to use
// it, and tears it down on SIGINT/SIGTERM.
//
//	go run ./e2e/harness/cmd/e2e-up --members 3 --etcd-version v3.7.3 --mode netns
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
)

func main() {
	var o harness.Options
	flag.StringVar(&o.EtcdVersion, "etcd-version", "", "etcd version (default $E2E_ETCD_VERSION or "+harness.DefaultEtcdVersion+")")
	flag.IntVar(&o.Members, "members", 3, "number of etcd members")
	flag.StringVar(&o.Mode, "mode", "", "netns or loopback (default: netns when root, $E2E_MODE overrides)")
	flag.Int64Var(&o.QuotaBackendBytes, "quota-backend-bytes", 0, "--quota-backend-bytes for the members (0: etcd default)")
	flag.BoolVar(&o.Keep, "keep", false, "keep the run dir after teardown")
	envFile := flag.String("env-file", "", "also write the env file here (default: only <run dir>/env)")
	flag.Parse()
	if m := os.Getenv("E2E_MODE"); m != "" && o.Mode != "" && m != o.Mode {
		fmt.Fprintf(os.Stderr, "e2e-up: note: E2E_MODE=%s overrides --mode=%s\n", m, o.Mode)
	}
	o.NoSignalHandler = true
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)

	t0 := time.Now()
	c, err := harness.New(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e-up:", err)
		os.Exit(1)
	}
	env := filepath.Join(c.Dir, "env")
	if *envFile != "" {
		b, _ := os.ReadFile(env)
		if err := os.WriteFile(*envFile, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "e2e-up:", err)
		} else {
			env = *envFile
		}
	}
	fmt.Printf("cluster up in %.1fs (%s mode, etcd %s), run dir %s\n\n", time.Since(t0).Seconds(), c.Mode, c.EtcdVersion, c.Dir)
	fmt.Printf("export KUBECONFIG=%s\n", c.Kubeconfig)
	fmt.Printf("export PATH=%s:%s:$PATH\n\n", c.EtcdBin, filepath.Dir(c.KubectlBin))
	fmt.Printf("etcd endpoints: %s\n", strings.Join(c.Endpoints(), ","))
	fmt.Printf("etcd certs:     --cacert=%s/ca.crt --cert=%s/healthcheck-client.crt --key=%s/healthcheck-client.key\n", c.PKIDir, c.PKIDir, c.PKIDir)
	for _, n := range c.MemberNames() {
		fmt.Printf("in pod etcd-%s: etcdctl %s\n", n, strings.Join(c.PodEtcdctlFlags(n), " "))
	}
	fmt.Printf("\nall of the above: . %s\nlogs: %s/logs\nCtrl-C (or SIGTERM) tears the cluster down.\n", env, c.Dir)
	s := <-sig
	fmt.Fprintf(os.Stderr, "e2e-up: %v, tearing down\n", s)
	c.Stop()
	fmt.Fprintln(os.Stderr, "e2e-up: done")
}
