package snapshot

import (
	"encoding/json"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// The buckets where etcd keeps its membership (etcd's server/storage/schema): members holds one
// JSON record per member under its hex ID; cluster holds the cluster version. The cluster ID is
// not stored in the database (it lives in the WAL), so a file cannot tell it.
var (
	membersBucket     = []byte("members")
	clusterBucket     = []byte("cluster")
	clusterVersionKey = []byte("clusterVersion")
)

// Member is a member as a snapshot records it.
type Member struct {
	ID         string   `json:"id"`
	Name       string   `json:"name,omitempty"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs,omitempty"`
	Learner    bool     `json:"learner,omitempty"`
}

// membership is the member list and cluster version recorded in a database.
type membership struct {
	Members        []Member
	ClusterVersion string
}

// readMembership reads the members and cluster buckets of the database at path, opened
// read-only (a file another process holds locked is ErrLocked). A database without a members
// bucket has an empty list.
func readMembership(path string) (m membership, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("damaged database: %v", r)
		}
	}()
	db, err := OpenDB(path)
	if err != nil {
		return m, err
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(clusterBucket); b != nil {
			m.ClusterVersion = string(b.Get(clusterVersionKey))
		}
		b := tx.Bucket(membersBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			id, err := strconv.ParseUint(string(k), 16, 64)
			if err != nil {
				return fmt.Errorf("member key %q is not a hex member ID", k)
			}
			// etcd's record has the ID as a JSON number; the key has it in hex.
			var rec struct {
				Name       string   `json:"name"`
				PeerURLs   []string `json:"peerURLs"`
				ClientURLs []string `json:"clientURLs"`
				IsLearner  bool     `json:"isLearner"`
			}
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("member %s: %w", k, err)
			}
			m.Members = append(m.Members, Member{ID: fmt.Sprintf("%016x", id), Name: rec.Name, PeerURLs: rec.PeerURLs, ClientURLs: rec.ClientURLs, Learner: rec.IsLearner})
			return nil
		})
	})
	return m, err
}
