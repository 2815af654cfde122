package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// authority is a CA whose key is kept in memory so that certificates for nodes added later
// (AddLearner) can be issued without re-reading files.
type authority struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	keyPEM  []byte
}

type certSpec struct {
	cn     string
	orgs   []string
	usages []x509.ExtKeyUsage
	dns    []string
	ips    []net.IP
}

var serialLimit = new(big.Int).Lsh(big.NewInt(1), 126)

func newKey() (*ecdsa.PrivateKey, []byte, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, serialLimit)
	if err != nil {
		panic(err)
	}
	return n
}

func newAuthority(cn string) (*authority, error) {
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key, keyPEM: keyPEM,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

func (a *authority) issue(s certSpec) (certPEM, keyPEM []byte, err error) {
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: s.cn, Organization: s.orgs},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  s.usages,
		DNSNames:     s.dns,
		IPAddresses:  s.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, key.Public(), a.key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

// writeIssued issues a certificate and writes dir/base.crt and dir/base.key (0600).
func (a *authority) writeIssued(dir, base string, s certSpec) error {
	c, k, err := a.issue(s)
	if err != nil {
		return fmt.Errorf("issue %s: %w", base, err)
	}
	return writePair(dir, base, c, k)
}

func (a *authority) write(dir, base string) error { return writePair(dir, base, a.certPEM, a.keyPEM) }

func writePair(dir, base string, certPEM, keyPEM []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, base+".crt"), certPEM, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, base+".key"), keyPEM, 0o600)
}

var (
	serverUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	clientUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	bothUsage   = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	loopbackIPs = []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback}
)

// pki is the kubeadm-shaped PKI of one cluster: dir is laid out like /etc/kubernetes/pki.
type pki struct {
	dir    string
	ca     *authority // kubernetes CA
	etcdCA *authority
}

// generatePKI writes the cluster-wide part of the PKI (everything except the per-member etcd
// certificates and the kubelet serving certificates, which are issued per node).
func generatePKI(dir string, apiserverIP net.IP) (*pki, error) {
	p := &pki{dir: dir}
	var err error
	if p.ca, err = newAuthority("kubernetes"); err != nil {
		return nil, err
	}
	if p.etcdCA, err = newAuthority("etcd-ca"); err != nil {
		return nil, err
	}
	etcdDir := filepath.Join(dir, "etcd")
	steps := []func() error{
		func() error { return p.ca.write(dir, "ca") },
		func() error { return p.etcdCA.write(etcdDir, "ca") },
		func() error {
			return p.ca.writeIssued(dir, "apiserver", certSpec{cn: "kube-apiserver", usages: serverUsage,
				dns: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"},
				ips: append([]net.IP{net.ParseIP("10.96.0.1"), apiserverIP}, loopbackIPs...)})
		},
		func() error {
			return p.ca.writeIssued(dir, "apiserver-kubelet-client", certSpec{cn: "kube-apiserver-kubelet-client",
				orgs: []string{"kubeadm:cluster-admins"}, usages: clientUsage})
		},
		func() error {
			return p.ca.writeIssued(dir, "admin", certSpec{cn: "kubernetes-admin", orgs: []string{"system:masters"}, usages: clientUsage})
		},
		func() error {
			return p.etcdCA.writeIssued(dir, "apiserver-etcd-client", certSpec{cn: "kube-apiserver-etcd-client", usages: clientUsage})
		},
		func() error {
			return p.etcdCA.writeIssued(etcdDir, "healthcheck-client", certSpec{cn: "kube-etcd-healthcheck-client", usages: clientUsage})
		},
		func() error {
			key, keyPEM, err := newKey()
			if err != nil {
				return err
			}
			pub, err := x509.MarshalPKIXPublicKey(key.Public())
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, "sa.key"), keyPEM, 0o600); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644)
		},
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// etcdServingSpec is the SAN set kubeadm gives etcd server and peer certificates.
func etcdServingSpec(name string, ip net.IP) certSpec {
	ips := append([]net.IP{}, loopbackIPs...)
	if ip != nil && !ip.IsLoopback() {
		ips = append(ips, ip)
	}
	return certSpec{cn: name, usages: bothUsage, dns: []string{name, "localhost"}, ips: ips}
}

// writeNodePKI lays out a node's /etc/kubernetes/pki: ca.crt, apiserver-etcd-client.*, and
// etcd/{ca,healthcheck-client,server,peer}.{crt,key}.
func (p *pki) writeNodePKI(nodePKIDir, name string, ip net.IP) error {
	etcdDir := filepath.Join(nodePKIDir, "etcd")
	if err := os.MkdirAll(etcdDir, 0o755); err != nil {
		return err
	}
	for _, f := range []struct{ from, to string }{
		{"ca.crt", "ca.crt"}, {"apiserver-etcd-client.crt", "apiserver-etcd-client.crt"}, {"apiserver-etcd-client.key", "apiserver-etcd-client.key"},
		{"etcd/ca.crt", "etcd/ca.crt"}, {"etcd/ca.key", "etcd/ca.key"},
		{"etcd/healthcheck-client.crt", "etcd/healthcheck-client.crt"}, {"etcd/healthcheck-client.key", "etcd/healthcheck-client.key"},
	} {
		if err := copyFile(filepath.Join(p.dir, f.from), filepath.Join(nodePKIDir, f.to)); err != nil {
			return err
		}
	}
	if err := p.etcdCA.writeIssued(etcdDir, "server", etcdServingSpec(name, ip)); err != nil {
		return err
	}
	return p.etcdCA.writeIssued(etcdDir, "peer", etcdServingSpec(name, ip))
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	st, err := os.Stat(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, st.Mode().Perm())
}
