package exec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// etcdctl -w json marshals etcd's protobuf response structs with encoding/json, so its uint64
// fields are plain JSON numbers. Decoding them into the same typed structs keeps every bit;
// decoding into interface{} would round them through float64 and corrupt member IDs.

func decodeStrict(data []byte, v any) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return fmt.Errorf("etcdctl printed nothing")
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("cannot decode etcdctl output: %w", err)
	}
	return nil
}

// DecodeEndpointStatus decodes "etcdctl endpoint status -w json" for a single endpoint.
func DecodeEndpointStatus(data []byte) (*clientv3.StatusResponse, error) {
	out, err := DecodeEndpointStatuses(data)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("etcdctl endpoint status returned no status")
	}
	return out[0].Status, nil
}

// DecodeEndpointStatuses decodes "etcdctl endpoint status -w json" for any number of endpoints
// (--cluster); entries without a status are dropped.
func DecodeEndpointStatuses(data []byte) ([]transport.EndpointStatus, error) {
	var out []struct {
		Endpoint string
		Status   *clientv3.StatusResponse
	}
	if err := decodeStrict(data, &out); err != nil {
		return nil, err
	}
	res := make([]transport.EndpointStatus, 0, len(out))
	for _, o := range out {
		if o.Status != nil {
			res = append(res, transport.EndpointStatus{Endpoint: o.Endpoint, Status: o.Status})
		}
	}
	return res, nil
}

// DecodeEndpointHealth decodes "etcdctl endpoint health -w json" for a single endpoint.
func DecodeEndpointHealth(data []byte) (*transport.Health, error) {
	out, err := DecodeEndpointHealths(data)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("etcdctl endpoint health returned no result")
	}
	return &out[0].Health, nil
}

// DecodeEndpointHealths decodes "etcdctl endpoint health -w json" for any number of endpoints.
func DecodeEndpointHealths(data []byte) ([]transport.EndpointHealth, error) {
	var out []struct {
		Endpoint string `json:"endpoint"`
		Health   bool   `json:"health"`
		Took     string `json:"took"`
		Error    string `json:"error"`
	}
	if err := decodeStrict(data, &out); err != nil {
		return nil, err
	}
	res := make([]transport.EndpointHealth, 0, len(out))
	for _, o := range out {
		h := transport.EndpointHealth{Endpoint: o.Endpoint, Health: transport.Health{Healthy: o.Health, Error: o.Error}}
		if o.Took != "" {
			if d, err := time.ParseDuration(o.Took); err == nil {
				h.Took = d
			}
		}
		res = append(res, h)
	}
	return res, nil
}

// DecodeMemberList decodes "etcdctl member list -w json".
func DecodeMemberList(data []byte) (*clientv3.MemberListResponse, error) {
	var out clientv3.MemberListResponse
	if err := decodeStrict(data, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DecodeAlarmList decodes "etcdctl alarm list -w json".
func DecodeAlarmList(data []byte) (*clientv3.AlarmResponse, error) {
	var out clientv3.AlarmResponse
	if err := decodeStrict(data, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DecodeHashKV decodes "etcdctl endpoint hashkv -w json" for a single endpoint.
func DecodeHashKV(data []byte) (*clientv3.HashKVResponse, error) {
	var out []struct {
		Endpoint string
		HashKV   *clientv3.HashKVResponse
	}
	if err := decodeStrict(data, &out); err != nil {
		return nil, err
	}
	if len(out) == 0 || out[0].HashKV == nil {
		return nil, fmt.Errorf("etcdctl endpoint hashkv returned no hash")
	}
	return out[0].HashKV, nil
}

// DecodeGet decodes "etcdctl get -w json": the range response, keys and values in base64 (which
// encoding/json decodes into []byte).
func DecodeGet(data []byte) (*clientv3.GetResponse, error) {
	var r clientv3.GetResponse
	if err := decodeStrict(data, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
