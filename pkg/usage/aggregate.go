package usage

import (
	"container/heap"
	"sort"
)

// Object is one stored key and its size.
type Object struct {
	Key       string `json:"key"`
	Resource  string `json:"resource"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	// Bytes is the key plus the value of the latest revision.
	Bytes int64 `json:"bytes"`
}

// ResourceUsage is the usage of one resource (or, outside /registry/, one key prefix).
type ResourceUsage struct {
	Resource string `json:"resource"`
	Group    string `json:"group,omitempty"`
	Objects  int64  `json:"objects"`
	// Bytes are keys plus values of the live (latest, not deleted) revisions.
	Bytes int64 `json:"bytes"`
	// Share is Bytes over all live bytes measured, in percent.
	Share float64 `json:"share"`
	// HistoryRevisions and HistoryBytes count the older revisions and tombstones still stored
	// (only a snapshot file shows them): what a compaction would free.
	HistoryRevisions int64   `json:"historyRevisions,omitempty"`
	HistoryBytes     int64   `json:"historyBytes,omitempty"`
	Largest          *Object `json:"largest,omitempty"`
}

// NamespaceUsage is the live usage of one namespace, over all its resources.
type NamespaceUsage struct {
	Namespace string  `json:"namespace"`
	Objects   int64   `json:"objects"`
	Bytes     int64   `json:"bytes"`
	Share     float64 `json:"share"`
}

// Totals are the sums over everything measured.
type Totals struct {
	Keys             int64 `json:"keys"`
	Bytes            int64 `json:"bytes"`
	HistoryRevisions int64 `json:"historyRevisions"`
	HistoryBytes     int64 `json:"historyBytes"`
}

// Breakdown is the aggregated result.
type Breakdown struct {
	Totals Totals `json:"totals"`
	// Resources are the Kubernetes resources, largest first.
	Resources []ResourceUsage `json:"resources"`
	// Prefixes are the keys outside /registry/, by first path element, largest first.
	Prefixes []ResourceUsage `json:"prefixes"`
	// Namespaces are the top namespaces by bytes.
	Namespaces []NamespaceUsage `json:"namespaces"`
	// Objects are the top largest objects.
	Objects []Object `json:"objects"`
}

// Aggregator sums keys as they are fed. It holds one entry per resource, prefix and namespace and
// at most Top objects, never the keys themselves.
type Aggregator struct {
	top        int
	totals     Totals
	resources  map[string]*ResourceUsage
	prefixes   map[string]*ResourceUsage
	namespaces map[string]*NamespaceUsage
	largest    objectHeap
}

// NewAggregator keeps the top largest objects and namespaces (top < 1 means 10).
func NewAggregator(top int) *Aggregator {
	if top < 1 {
		top = 10
	}
	return &Aggregator{top: top, resources: map[string]*ResourceUsage{}, prefixes: map[string]*ResourceUsage{}, namespaces: map[string]*NamespaceUsage{}}
}

func (a *Aggregator) bucket(k Key) *ResourceUsage {
	m := a.resources
	if !k.Kubernetes {
		m = a.prefixes
	}
	name := k.ResourceName()
	r := m[name]
	if r == nil {
		r = &ResourceUsage{Resource: k.Resource, Group: k.Group}
		if !k.Kubernetes {
			r.Resource = k.Prefix
		}
		m[name] = r
	}
	return r
}

// Add counts the live revision of key, whose key plus value take size bytes.
func (a *Aggregator) Add(key []byte, size int64) {
	k := ParseKey(key)
	r := a.bucket(k)
	r.Objects++
	r.Bytes += size
	a.totals.Keys++
	a.totals.Bytes += size
	o := object(key, k, size)
	if r.Largest == nil || objectLess(*r.Largest, o) {
		r.Largest = &o
	}
	if k.Namespace != "" {
		n := a.namespaces[k.Namespace]
		if n == nil {
			n = &NamespaceUsage{Namespace: k.Namespace}
			a.namespaces[k.Namespace] = n
		}
		n.Objects++
		n.Bytes += size
	}
	if len(a.largest) < a.top {
		heap.Push(&a.largest, o)
	} else if objectLess(a.largest[0], o) {
		a.largest[0] = o
		heap.Fix(&a.largest, 0)
	}
}

// AddHistory counts an older revision or a tombstone of key taking size bytes.
func (a *Aggregator) AddHistory(key []byte, size int64) {
	r := a.bucket(ParseKey(key))
	r.HistoryRevisions++
	r.HistoryBytes += size
	a.totals.HistoryRevisions++
	a.totals.HistoryBytes += size
}

func object(key []byte, k Key, size int64) Object {
	return Object{Key: string(key), Resource: k.ResourceName(), Namespace: k.Namespace, Name: k.Name, Bytes: size}
}

// Breakdown sorts what was counted. Ties are broken by name so the result is stable.
func (a *Aggregator) Breakdown() Breakdown {
	b := Breakdown{Totals: a.totals, Resources: a.sorted(a.resources), Prefixes: a.sorted(a.prefixes)}
	b.Namespaces = []NamespaceUsage{}
	for _, n := range a.namespaces {
		c := *n
		c.Share = share(c.Bytes, a.totals.Bytes)
		b.Namespaces = append(b.Namespaces, c)
	}
	sort.Slice(b.Namespaces, func(i, j int) bool {
		x, y := b.Namespaces[i], b.Namespaces[j]
		if x.Bytes != y.Bytes {
			return x.Bytes > y.Bytes
		}
		return x.Namespace < y.Namespace
	})
	if len(b.Namespaces) > a.top {
		b.Namespaces = b.Namespaces[:a.top]
	}
	b.Objects = append([]Object{}, a.largest...)
	sort.Slice(b.Objects, func(i, j int) bool { return objectLess(b.Objects[j], b.Objects[i]) })
	return b
}

func (a *Aggregator) sorted(m map[string]*ResourceUsage) []ResourceUsage {
	out := make([]ResourceUsage, 0, len(m))
	for _, r := range m {
		c := *r
		c.Share = share(c.Bytes, a.totals.Bytes)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		x, y := out[i], out[j]
		if x.Bytes != y.Bytes {
			return x.Bytes > y.Bytes
		}
		if x.HistoryBytes != y.HistoryBytes {
			return x.HistoryBytes > y.HistoryBytes
		}
		return x.Resource+"."+x.Group < y.Resource+"."+y.Group
	})
	return out
}

// share is part of whole in percent, rounded to 0.1.
func share(part, whole int64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part*1000/whole) / 10
}

// objectLess orders by size, then by key descending, so that the heap keeps a stable top set.
func objectLess(x, y Object) bool {
	if x.Bytes != y.Bytes {
		return x.Bytes < y.Bytes
	}
	return x.Key > y.Key
}

// objectHeap is a min-heap by size: its root is the smallest of the kept objects.
type objectHeap []Object

func (h objectHeap) Len() int           { return len(h) }
func (h objectHeap) Less(i, j int) bool { return objectLess(h[i], h[j]) }
func (h objectHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *objectHeap) Push(x any)        { *h = append(*h, x.(Object)) }
func (h *objectHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
