package core

import (
	"bytes"
	"errors"

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

// JSON encodes t in the REST API's own field names.
func (t *Topology) JSON() ([]byte, error) { return jsonx.Marshal(t) }

func jsonUnmarshal(b []byte, v any) error { return jsonx.Unmarshal(b, v) }
