package core

import (
	"bytes"
	"errors"
	"sync"

	"github.com/zbauth/zbauth/internal/jsonx"
)

// Topology is the REST API's answer to GET /v1/topology. JSON field names
// are the API's own, so marshalling a Topology reproduces its wire form.
type Topology struct {
	Brokers           []Broker `json:"brokers"`
	ClusterSize       int      `json:"clusterSize"`
	PartitionsCount   int      `json:"partitionsCount"`
	ReplicationFactor int      `json:"replicationFactor"`
	GatewayVersion    string   `json:"gatewayVersion"`
	// LastCompletedChangeID and ClusterID come with /v2/topology (Camunda
	// 8.8+); a /v1 answer leaves them empty, and JSON then omits them, as
	// the wire form does.
	LastCompletedChangeID string `json:"lastCompletedChangeId,omitempty"`
	ClusterID             string `json:"clusterId,omitempty"`
}

// Broker is one broker of the cluster.
type Broker struct {
	NodeID     int         `json:"nodeId"`
	Host       string      `json:"host"`
	Port       int         `json:"port"`
	Version    string      `json:"version"`
	Partitions []Partition `json:"partitions"`
}

// Partition is one partition as a broker sees it.
type Partition struct {
	PartitionID int    `json:"partitionId"`
	Role        string `json:"role"`   // "leader", "follower", "inactive"
	Health      string `json:"health"` // "healthy", "unhealthy", "dead"
}

// ParseTopology decodes a topology document. Unknown fields are ignored and
// null or missing values read as zero; lists are never nil.
func ParseTopology(body []byte) (*Topology, error) {
	var t Topology
	// A bare null decodes without error into the zero Topology; it is no
	// more a topology than [] is, so only an object is accepted.
	if !bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("{")) {
		return nil, errors.New("not a topology JSON object")
	}
	if err := jsonx.Unmarshal(body, &t); err != nil {
		return nil, errors.New("not a topology JSON object")
	}
	if t.Brokers == nil {
		t.Brokers = []Broker{}
	}
	for i := range t.Brokers {
		if t.Brokers[i].Partitions == nil {
			t.Brokers[i].Partitions = []Partition{}
		}
	}
	return &t, nil
}

// topologyMemo is a parsed topology with the body it came from. A client
// keeps the last one: the topology rarely changes, and a client that polls
// it receives the same bytes again and again, which then need neither the
// JSON validation nor the decoding (docs/topology-memo.md). It is shared
// between goroutines and never modified: callers get clones.
type topologyMemo struct {
	body []byte
	t    *Topology
	once sync.Once
	json []byte // t.JSON(), made on first use
	err  error
}

// maxMemoBody bounds the body a client keeps.
const maxMemoBody = 64 << 10

func (m *topologyMemo) encoded() ([]byte, error) {
	m.once.Do(func() { m.json, m.err = m.t.JSON() })
	return m.json, m.err
}

// clone returns a deep copy of t: three allocations, strings shared (they
// are immutable).
func (t *Topology) clone() *Topology {
	n := *t
	n.Brokers = make([]Broker, len(t.Brokers))
	copy(n.Brokers, t.Brokers)
	total := 0
	for _, b := range t.Brokers {
		total += len(b.Partitions)
	}
	parts := make([]Partition, 0, total)
	for i, b := range t.Brokers {
		start := len(parts)
		parts = append(parts, b.Partitions...)
		n.Brokers[i].Partitions = parts[start:len(parts):len(parts)]
	}
	return &n
}

// JSON encodes t in the REST API's own field names.
func (t *Topology) JSON() ([]byte, error) { return jsonx.Marshal(t) }
