package nodehelper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"k8s.io/client-go/rest"
)

// ErrLogsUnavailable says the kubelet's log server cannot be used on a node: RBAC denies get
// nodes/proxy, or the kubelet does not serve /logs/ (enableSystemLogHandler: false).
var ErrLogsUnavailable = errors.New("the kubelet log server is not available")

// NodeLogs reads files under a node's /var/log from the kubelet's log server (/logs/), through
// the API server's node proxy: GET /api/v1/nodes/NODE/proxy/logs/PATH. The proxy is a
// long-running request (no request timeout) and passes Range through, so a download can
// resume where it broke and can follow a file that is still growing.
type NodeLogs struct {
	HTTP *http.Client
	// Base is the URL of the API server (the kubeconfig's server, with any path prefix).
	Base string
	Node string
}

// NewNodeLogs returns a reader of node's log files, authenticated as the kubeconfig says.
func NewNodeLogs(cfg *rest.Config, node string) (*NodeLogs, error) {
	// --request-timeout would bound a whole download: the reads carry the command's context.
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = 0
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	base := cfg.Host
	if !strings.Contains(base, "://") {
		base = "https://" + base
	}
	return &NodeLogs{HTTP: hc, Base: strings.TrimSuffix(base, "/"), Node: node}, nil
}

// URL is the proxy URL of rel (a path below /var/log).
func (l *NodeLogs) URL(rel string) string {
	p := path.Join("/api/v1/nodes", url.PathEscape(l.Node), "proxy/logs", rel)
	if rel == "" || strings.HasSuffix(rel, "/") {
		p += "/"
	}
	return strings.TrimSuffix(l.Base, "/") + p
}

// Probe checks that the kubelet of the node serves /logs/ to this user.
func (l *NodeLogs) Probe(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.URL(""), nil)
	if err != nil {
		return err
	}
	resp, err := l.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%w on node %s: %w", ErrLogsUnavailable, l.Node, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return l.statusError(resp, "")
	}
	return nil
}

// errNoFile and errNoNewData are the answers of Open that are not failures.
var (
	errNoFile    = errors.New("no such file")
	errNoNewData = errors.New("no data past the offset")
)

// Open reads rel from byte off on. It returns the body and the file's size when the server
// said it; errNoFile for a file that does not exist (yet, or any more); errNoNewData with the
// size when the file has no bytes past off.
func (l *NodeLogs) Open(ctx context.Context, rel string, off int64) (io.ReadCloser, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.URL(rel), nil)
	if err != nil {
		return nil, -1, err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
	resp, err := l.HTTP.Do(req)
	if err != nil {
		return nil, -1, err
	}
	switch {
	case (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusPartialContent) && resp.ContentLength == 0:
		// net/http answers a Range on an empty file with 200 and no body: nothing new yet
		resp.Body.Close()
		return nil, 0, errNoNewData
	case resp.StatusCode == http.StatusOK && resp.ContentLength >= 0 && resp.ContentLength <= off:
		resp.Body.Close()
		return nil, resp.ContentLength, errNoNewData
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		return resp.Body, contentRangeTotal(resp.Header.Get("Content-Range")), nil
	case http.StatusOK:
		// The server ignored Range: skip what was read already.
		if _, err := io.CopyN(io.Discard, resp.Body, off); err != nil {
			resp.Body.Close()
			return nil, -1, fmt.Errorf("skipping %d bytes of %s: %w", off, rel, err)
		}
		return resp.Body, resp.ContentLength, nil
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	switch resp.StatusCode {
	case http.StatusNotFound:
		return nil, -1, errNoFile
	case http.StatusRequestedRangeNotSatisfiable:
		return nil, contentRangeTotal(resp.Header.Get("Content-Range")), errNoNewData
	}
	return nil, -1, l.statusError(resp, rel)
}

func (l *NodeLogs) statusError(resp *http.Response, rel string) error {
	switch resp.StatusCode {
	case http.StatusForbidden:
		return fmt.Errorf("%w on node %s: RBAC denied get nodes/proxy (HTTP 403 for %s)", ErrLogsUnavailable, l.Node, l.URL(rel))
	case http.StatusUnauthorized:
		return fmt.Errorf("%w on node %s: the API server rejected the credentials (HTTP 401)", ErrLogsUnavailable, l.Node)
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return fmt.Errorf("%w on node %s: the kubelet does not serve /logs/ (HTTP %d; its enableSystemLogHandler is off?)", ErrLogsUnavailable, l.Node, resp.StatusCode)
	}
	return fmt.Errorf("%w on node %s: HTTP %s for %s", ErrLogsUnavailable, l.Node, resp.Status, l.URL(rel))
}

// contentRangeTotal reads the size from "bytes a-b/size" or "bytes */size" (-1: unknown).
func contentRangeTotal(v string) int64 {
	i := strings.LastIndexByte(v, '/')
	if i < 0 {
		return -1
	}
	n, err := strconv.ParseInt(v[i+1:], 10, 64)
	if err != nil {
		return -1
	}
	return n
}
