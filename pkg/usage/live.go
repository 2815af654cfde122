package usage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// Ranger reads pages of keys; transport.Session implements it.
type Ranger interface {
	Range(ctx context.Context, key, end string, limit int64) (*clientv3.GetResponse, error)
}

// Default page size and rate of a live walk.
const (
	DefaultPageSize = 500
	DefaultRate     = 10.0
)

// LiveOptions tune Walk.
type LiveOptions struct {
	Prefix string
	Top    int
	// PageSize is the number of keys per range request.
	PageSize int64
	// Rate is the most range requests per second (0: no limit).
	Rate float64
	// CallTimeout bounds each range request (0: none beyond ctx).
	CallTimeout time.Duration
	// Progress, when set, is called after every page with the keys and bytes seen so far.
	Progress func(keys, bytes int64)
	// Shrunk, when set, hears the new page size after a page was too large for the transport.
	Shrunk func(pageSize int64)
}

// Walk pages through the keys under o.Prefix (all keys when empty) with serializable range
// requests and aggregates them as they come; only the current page is held. Each page after the
// first starts at the last key of the one before and asks for one key more (that key comes back
// first and is skipped): etcdctl cannot be given the key plus a NUL byte in its argv. The pages
// are read at the latest revision each, so under writes the report is not one point in time, as
// with etcdctl's own paginated get. It also reads kube-apiserver's compact_rev_key.
//
// Large values (Helm release Secrets reach 1 MiB) can make a page larger than the transport
// takes (gRPC's receive limit, the output cap of exec): such a page is asked again with half as
// many keys, down to one, and the walk goes on with the smaller size.
func Walk(ctx context.Context, r Ranger, o LiveOptions) (*Report, error) {
	start := time.Now()
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	rep := &Report{Source: "live", Prefix: o.Prefix}
	agg := NewAggregator(o.Top)
	call := func(key, end string, limit int64) (*clientv3.GetResponse, error) {
		cctx := ctx
		if o.CallTimeout > 0 {
			var cancel context.CancelFunc
			cctx, cancel = context.WithTimeout(ctx, o.CallTimeout)
			defer cancel()
		}
		return r.Range(cctx, key, end, limit)
	}
	key, end := o.Prefix, clientv3.GetPrefixRangeEnd(o.Prefix)
	if key == "" {
		key, end = "\x00", "\x00"
	}
	var interval time.Duration
	if o.Rate > 0 {
		interval = time.Duration(float64(time.Second) / o.Rate)
	}
	var last string
	pageSize := o.PageSize
	for page := 0; ; page++ {
		if page > 0 && interval > 0 {
			if err := sleep(ctx, interval); err != nil {
				return nil, err
			}
		}
		var resp *clientv3.GetResponse
		for {
			limit := pageSize
			if page > 0 {
				limit++
			}
			var err error
			resp, err = call(key, end, limit)
			if err == nil {
				break
			}
			if !errors.Is(err, transport.ErrTooLarge) || pageSize == 1 {
				return nil, fmt.Errorf("reading keys from %q (page %d, %d keys): %w", key, page+1, pageSize, err)
			}
			pageSize = max(1, pageSize/2)
			if o.Shrunk != nil {
				o.Shrunk(pageSize)
			}
		}
		if page == 0 && resp.Header != nil {
			rep.Revision = resp.Header.Revision
		}
		for i, kv := range resp.Kvs {
			if page > 0 && i == 0 && string(kv.Key) == last {
				continue
			}
			agg.Add(kv.Key, int64(len(kv.Key)+len(kv.Value)))
		}
		if o.Progress != nil {
			o.Progress(agg.totals.Keys, agg.totals.Bytes)
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		last = string(resp.Kvs[len(resp.Kvs)-1].Key)
		key = last
	}
	resp, err := call(KubeCompactKey, "", 1)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", KubeCompactKey, err)
	}
	if len(resp.Kvs) == 1 {
		if n, err := strconv.ParseInt(string(resp.Kvs[0].Value), 10, 64); err == nil {
			rep.KubeCompactRevision = n
		}
	}
	rep.Breakdown = agg.Breakdown()
	rep.DB.LiveData = rep.Totals.Bytes
	rep.Unavailable = []string{"history bytes per resource (old revisions are only visible in a snapshot file: use --file)", "etcd's compacted revision", "lease count"}
	rep.Took = time.Since(start).Round(time.Millisecond).String()
	return rep, nil
}

// SetStatus fills the database split from a member's status: its backend size, the part in use,
// and (for a report over the whole keyspace) the rest of the part in use beyond the live data,
// which holds the history not yet compacted and bbolt's own overhead.
func (r *Report) SetStatus(dbSize, inUse int64) {
	r.DB.Size, r.DB.InUse = dbSize, inUse
	r.DB.Free = max(0, dbSize-inUse)
	if r.Prefix == "" {
		r.DB.History = max(0, inUse-r.DB.LiveData)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Live measures the keyspace of one member: the named one, else a serving voting follower (the
// leader is spared, as for a snapshot). chosen, when set, hears which member was picked.
func Live(ctx context.Context, conn transport.Connector, pods []discovery.Member, member string, o LiveOptions, chosen func(etcd.MemberStatus)) (*Report, error) {
	st := etcd.Status(ctx, conn, pods, etcd.StatusOptions{Timeout: o.CallTimeout})
	m, err := etcd.PickSnapshotMember(st, member)
	if err != nil {
		return nil, err
	}
	if chosen != nil {
		chosen(*m)
	}
	var pod *discovery.Member
	for i := range pods {
		if pods[i].Is(m.Pod, m.Name) {
			pod = &pods[i]
		}
	}
	if pod == nil {
		return nil, fmt.Errorf("pod %s vanished", m.Pod)
	}
	s, err := conn.Connect(ctx, pod)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	r, err := Walk(ctx, s, o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Pod, err)
	}
	r.Member, r.Pod, r.Transport = m.Name, m.Pod, string(conn.Mode())
	r.SetStatus(m.DBSize, m.DBSizeInUse)
	return r, nil
}

// Headline names what holds the most of the live data, for a one-line finding: "events hold
// 61% of the live data (4.6 GiB); the largest namespace is team-a (40%)" (a namespace only when
// it holds at least 10%). It is empty when nothing was measured.
func (r *Report) Headline(bytes func(int64) string) string {
	if len(r.Resources) == 0 && len(r.Prefixes) == 0 {
		return ""
	}
	top := ResourceUsage{}
	for _, x := range append(slices.Clone(r.Resources), r.Prefixes...) {
		if x.Bytes > top.Bytes {
			top = x
		}
	}
	name := top.Resource
	if top.Group != "" {
		name += "." + top.Group
	}
	s := fmt.Sprintf("%s hold %.0f%% of the live data (%s)", name, top.Share, bytes(top.Bytes))
	if len(r.Namespaces) > 0 && r.Namespaces[0].Share >= 10 {
		s += fmt.Sprintf("; the largest namespace is %s (%.0f%%)", r.Namespaces[0].Namespace, r.Namespaces[0].Share)
	}
	return s
}
