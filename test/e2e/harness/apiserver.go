package harness

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// freePort returns a TCP port that was free on ip a moment ago.
func freePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func freePorts(ip string, n int) ([]int, error) {
	// Hold all listeners until every port is chosen so the ports are distinct.
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// startAPIServer starts the single-member storage etcd of the API server (TLS, host loopback,
// free ports), kube-apiserver on ip:<free port>, writes the admin kubeconfig and waits for /readyz.
func (c *Cluster) startAPIServer(ctx context.Context, ip net.IP) error {
	ports, err := freePorts("127.0.0.1", 3)
	if err != nil {
		return err
	}
	sdir := filepath.Join(c.Dir, "storage-etcd")
	if err := c.pki.etcdCA.writeIssued(sdir, "server", etcdServingSpec("storage-etcd", nil)); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(sdir, "data"), 0o700); err != nil {
		return err
	}
	client := fmt.Sprintf("https://127.0.0.1:%d", ports[0])
	c.storageURL = client
	peer := fmt.Sprintf("https://127.0.0.1:%d", ports[1])
	etcdCA := filepath.Join(c.PKIDir, "ca.crt")
	storage, err := c.spawn("storage-etcd", os.Environ(), filepath.Join(c.EtcdBin, "etcd"),
		"--name=storage", "--data-dir="+filepath.Join(sdir, "data"),
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
		"--initial-cluster=storage="+peer, "--initial-cluster-state=new",
		fmt.Sprintf("--listen-metrics-urls=http://127.0.0.1:%d", ports[2]),
		"--cert-file="+filepath.Join(sdir, "server.crt"), "--key-file="+filepath.Join(sdir, "server.key"),
		"--client-cert-auth=true", "--trusted-ca-file="+etcdCA,
		"--peer-cert-file="+filepath.Join(sdir, "server.crt"), "--peer-key-file="+filepath.Join(sdir, "server.key"),
		"--peer-client-cert-auth=true", "--peer-trusted-ca-file="+etcdCA,
		"--unsafe-no-fsync=true", "--snapshot-count=10000")
	if err != nil {
		return err
	}

	port, err := freePort(ip.String())
	if err != nil {
		return err
	}
	p := func(f string) string { return filepath.Join(c.pki.dir, f) }
	host := ip.String()
	apiserver, err := c.spawn("kube-apiserver", os.Environ(), c.apiserverBin,
		"--etcd-servers="+client,
		"--etcd-cafile="+etcdCA, "--etcd-certfile="+p("apiserver-etcd-client.crt"), "--etcd-keyfile="+p("apiserver-etcd-client.key"),
		"--bind-address="+host, "--secure-port="+strconv.Itoa(port), "--advertise-address="+host,
		"--endpoint-reconciler-type=none",
		"--tls-cert-file="+p("apiserver.crt"), "--tls-private-key-file="+p("apiserver.key"),
		"--client-ca-file="+p("ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+p("sa.pub"), "--service-account-signing-key-file="+p("sa.key"),
		"--service-cluster-ip-range=10.96.0.0/12",
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction", "--allow-privileged=true",
		"--kubelet-client-certificate="+p("apiserver-kubelet-client.crt"), "--kubelet-client-key="+p("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority="+p("ca.crt"), "--kubelet-preferred-address-types=InternalIP",
		"--profiling=false", "--v=1")
	if err != nil {
		return err
	}
	c.APIServer = "https://" + net.JoinHostPort(host, strconv.Itoa(port))
	if err := c.writeKubeconfig(); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 100, 200
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	c.kube = kube
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := poll(wctx, "storage etcd", storage, 100*time.Millisecond, func(_ context.Context) error {
		_, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0]), time.Second)
		return err
	}); err != nil {
		return err
	}
	return poll(wctx, "kube-apiserver /readyz and kube-system", apiserver, 200*time.Millisecond, func(ctx context.Context) error {
		if _, err := kube.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
			return err
		}
		_, err := kube.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
		return err
	})
}

func (c *Cluster) writeKubeconfig() error {
	read := func(f string) ([]byte, error) { return os.ReadFile(filepath.Join(c.pki.dir, f)) }
	ca, err := read("ca.crt")
	if err != nil {
		return err
	}
	crt, err := read("admin.crt")
	if err != nil {
		return err
	}
	key, err := read("admin.key")
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubernetes"] = &clientcmdapi.Cluster{Server: c.APIServer, CertificateAuthorityData: ca}
	cfg.AuthInfos["kubernetes-admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: crt, ClientKeyData: key}
	cfg.Contexts["kubernetes-admin@kubernetes"] = &clientcmdapi.Context{Cluster: "kubernetes", AuthInfo: "kubernetes-admin"}
	cfg.CurrentContext = "kubernetes-admin@kubernetes"
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	return clientcmd.WriteToFile(*cfg, c.Kubeconfig)
}
