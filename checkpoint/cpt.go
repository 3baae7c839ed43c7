package checkpoint

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/resmon/resmon/checkpoint/registry"
	"github.com/resmon/resmon/model"
)

// Format is the version of the CPT/CPR document written by Encode.
const Format = 1

// CryptoKeyLen is the length of the cluster key: AES-256.
const CryptoKeyLen = 32

// Document is one checkpoint as stored in etcd (the payload of
// quorum.Store.PutCheckpoint). Its encoding is canonical JSON, readable with
// etcdctl:
//
//	{"format":1,"kind":"CPT","resource":"<id>","number":1,"path":"SOFTWARE\\Microsoft\\onyone",
//	 "seq":42,"node":"node1","time":"2025-01-01T00:00:00.123Z",
//	 "tree":{"name":"onyone","values":[{"name":"Port","type":"REG_DWORD","data":7000}],"keys":[]},
//	 "sha256":"…"}
//
// sha256 covers the document without its sha256 member, so any change to
// any byte — header or tree — is detected. A CPR carries "sealed" instead of
// "tree": the container's key material encrypted with AES-256-GCM under the
// cluster key, with the header as additional data, so a sealed payload
// cannot be moved to another checkpoint either. "absent":true records that
// the key or container did not exist; restoring it deletes the local copy.
type Document struct {
	Kind     model.CheckpointKind // quorum.Registry (CPT) or quorum.Crypto (CPR)
	Resource string               // resource id
	Number   uint32               // the 00000001 of 00000001.CPT
	Path     string               // registry key path, or container Type\Provider\Container
	Seq      uint64               // increases with every save of this checkpoint
	Node     string               // node that saved it
	Time     time.Time            // when it was saved
	Absent   bool                 // the key or container did not exist
	Tree     *registry.Key        // CPT: the subtree; nil when Absent
	Material []byte               // CPR: the container's key material (plain); nil when Absent
}

// FileName is the checkpoint's Windows-style name, "00000001.CPT".
func (d Document) FileName() string { return model.CheckpointFileName(d.Kind, d.Number) }

type wireDoc struct {
	Format   int                  `json:"format"`
	Kind     model.CheckpointKind `json:"kind"`
	Resource string               `json:"resource"`
	Number   uint32               `json:"number"`
	Path     string               `json:"path"`
	Seq      uint64               `json:"seq"`
	Node     string               `json:"node"`
	Time     time.Time            `json:"time"`
	Absent   bool                 `json:"absent,omitempty"`
	Tree     json.RawMessage      `json:"tree,omitempty"`
	Sealed   *sealed              `json:"sealed,omitempty"`
	SHA256   string               `json:"sha256,omitempty"` // must stay the last field
}

type sealed struct {
	KeyID      string `json:"key_id"`     // 16 hex digits identifying the cluster key
	Nonce      string `json:"nonce"`      // base64
	Ciphertext string `json:"ciphertext"` // base64, GCM tag included
}

// KeyID is the public identifier of a cluster key, recorded in every CPR so
// that a node with another key says so instead of failing to decrypt.
func KeyID(key []byte) string {
	h := sha256.New()
	h.Write([]byte("resmon cluster key id\x00"))
	h.Write(key)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func (d Document) header() wireDoc {
	return wireDoc{Format: Format, Kind: d.Kind, Resource: d.Resource, Number: d.Number, Path: d.Path,
		Seq: d.Seq, Node: d.Node, Time: d.Time, Absent: d.Absent}
}

// check checks d; hasTree says whether it carries a registry tree.
func (d Document) check(hasTree bool) error {
	switch {
	case d.Kind != model.RegistryCheckpoint && d.Kind != model.CryptoCheckpoint:
		return fmt.Errorf("kind %q is neither CPT nor CPR", d.Kind)
	case d.Resource == "":
		return fmt.Errorf("no resource id")
	case d.Number == 0:
		return fmt.Errorf("number 0")
	case d.Path == "":
		return fmt.Errorf("no path")
	case d.Node == "":
		return fmt.Errorf("no node")
	case d.Time.IsZero():
		return fmt.Errorf("no time")
	case d.Kind == model.RegistryCheckpoint && d.Material != nil:
		return fmt.Errorf("a CPT carries no key material")
	case d.Kind == model.RegistryCheckpoint && d.Absent == hasTree:
		return fmt.Errorf("a CPT carries a tree or absent:true, exactly one")
	case d.Kind == model.CryptoCheckpoint && hasTree:
		return fmt.Errorf("a CPR carries no registry tree")
	case d.Kind == model.CryptoCheckpoint && d.Absent && len(d.Material) > 0:
		return fmt.Errorf("an absent container carries no key material")
	}
	return nil
}

// Encode writes d in canonical form. A CPR needs key (CryptoKeyLen bytes).
func Encode(d Document, key []byte) ([]byte, error) {
	var tree []byte
	if d.Tree != nil {
		var err error
		if tree, err = d.Tree.MarshalJSON(); err != nil {
			return nil, fmt.Errorf("checkpoint: encoding %s: %w", d.Path, err)
		}
	}
	out, _, err := encode(d, tree, key)
	return out, err
}

// encode is Encode with the tree already in canonical JSON (d.Tree is not
// used); it also returns
// the sha256 of the payload (tree or material, with the absent flag), which
// tells whether two saves carry the same data.
func encode(d Document, tree []byte, key []byte) ([]byte, [32]byte, error) {
	d.Time = d.Time.UTC()
	if err := d.check(tree != nil); err != nil {
		return nil, [32]byte{}, fmt.Errorf("checkpoint: encoding %s of resource %s: %v", d.FileName(), d.Resource, err)
	}
	w := d.header()
	sum := payloadSum(d.Absent, tree, d.Material)
	if d.Kind == model.CryptoCheckpoint {
		s, err := seal(w, d.Material, key)
		if err != nil {
			return nil, sum, fmt.Errorf("checkpoint: sealing %s (%s) of resource %s: %w", d.FileName(), d.Path, d.Resource, err)
		}
		w.Sealed = s
	}
	b, err := marshalBody(w, tree)
	if err != nil {
		return nil, sum, fmt.Errorf("checkpoint: encoding %s of resource %s: %w", d.FileName(), d.Resource, err)
	}
	return appendSHA(b), sum, nil
}

// marshalBody is json.Marshal of w with its Tree set to tree and no sha256,
// without passing the (possibly large, already canonical) tree through
// encoding/json again: "tree" is the last member before "sha256".
func marshalBody(w wireDoc, tree []byte) ([]byte, error) {
	w.Tree, w.SHA256 = nil, ""
	hb, err := json.Marshal(w)
	if err != nil || tree == nil {
		return hb, err
	}
	if w.Sealed != nil {
		return nil, fmt.Errorf("a document cannot carry both a tree and a sealed payload")
	}
	b := make([]byte, 0, len(hb)+len(tree)+80)
	b = append(b, hb[:len(hb)-1]...)
	b = append(b, `,"tree":`...)
	b = append(b, tree...)
	return append(b, '}'), nil
}

func payloadSum(absent bool, tree, material []byte) [32]byte {
	h := sha256.New()
	if absent {
		h.Write([]byte{0})
	} else {
		h.Write([]byte{1})
	}
	h.Write(tree)
	h.Write(material)
	var s [32]byte
	h.Sum(s[:0])
	return s
}

// appendSHA turns {…} into {…,"sha256":"<sha256 of {…}>"}.
func appendSHA(b []byte) []byte {
	sum := sha256.Sum256(b)
	out := make([]byte, 0, len(b)+80)
	out = append(out, b[:len(b)-1]...)
	out = append(out, `,"sha256":"`...)
	out = hex.AppendEncode(out, sum[:])
	return append(out, `"}`...)
}

func aead(key []byte) (cipher.AEAD, error) {
	if len(key) != CryptoKeyLen {
		if key == nil {
			return nil, ErrNoCryptoKey
		}
		return nil, fmt.Errorf("checkpoint: the cluster key has %d bytes, want %d", len(key), CryptoKeyLen)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func seal(h wireDoc, material, key []byte) (*sealed, error) {
	g, err := aead(key)
	if err != nil {
		return nil, err
	}
	ad, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return &sealed{
		KeyID:      KeyID(key),
		Nonce:      base64.StdEncoding.EncodeToString(nonce),
		Ciphertext: base64.StdEncoding.EncodeToString(g.Seal(nil, nonce, material, ad)),
	}, nil
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// Decode reads and verifies a document: the JSON must be exactly what
// Encode writes (strict fields, canonical bytes), the sha256 must match,
// the tree must satisfy the registry's rules, and a CPR must open under key.
// Any failure of the data itself is ErrCorrupt. A CPR without key is
// ErrNoCryptoKey, under another key ErrWrongCryptoKey (after the checksum
// passed: damage is reported as such even without the key).
func Decode(b []byte, key []byte) (Document, error) {
	d, _, err := decode(b, key)
	return d, err
}

// decode is Decode that also returns the tree's canonical JSON.
func decode(b []byte, key []byte) (Document, []byte, error) {
	var w wireDoc
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Document{}, nil, corruptf("not a checkpoint document: %v", err)
	}
	if dec.More() {
		return Document{}, nil, corruptf("trailing data after the document")
	}
	if w.Format != Format {
		return Document{}, nil, corruptf("format %d is not supported (want %d)", w.Format, Format)
	}
	sum := w.SHA256
	body, err := marshalBody(w, w.Tree)
	if err != nil {
		return Document{}, nil, corruptf("%v", err)
	}
	if want := appendSHA(body); !bytes.Equal(want, b) {
		if len(want) == len(b) && bytes.Equal(want[:len(want)-66], b[:len(b)-66]) {
			return Document{}, nil, corruptf("sha256 mismatch: the document hashes to %s, it says %s", want[len(want)-66:len(want)-2], sum)
		}
		return Document{}, nil, corruptf("the document is not in canonical form (edited by hand or damaged)")
	}
	d := Document{Kind: w.Kind, Resource: w.Resource, Number: w.Number, Path: w.Path, Seq: w.Seq, Node: w.Node, Time: w.Time, Absent: w.Absent}
	switch d.Kind {
	case model.RegistryCheckpoint:
		if w.Sealed != nil {
			return Document{}, nil, corruptf("a CPT carries no sealed payload")
		}
		if w.Tree != nil {
			if err := decodeTree(&d, w.Tree); err != nil {
				return Document{}, nil, err
			}
		}
	case model.CryptoCheckpoint:
		if w.Sealed == nil {
			return Document{}, nil, corruptf("a CPR needs a sealed payload")
		}
		if w.Tree != nil {
			return Document{}, nil, corruptf("a CPR carries no registry tree")
		}
		if p, err := ParseContainerName(d.Path); err != nil || p != d.Path {
			return Document{}, nil, corruptf("path %q is not a canonical container name", d.Path)
		}
		if err := open(&d, w, key); err != nil {
			return Document{}, nil, err
		}
	}
	if err := d.check(d.Tree != nil); err != nil {
		return Document{}, nil, corruptf("%v", err)
	}
	return d, w.Tree, nil
}

func decodeTree(d *Document, raw []byte) error {
	var t registry.Key
	if err := t.UnmarshalJSON(raw); err != nil {
		return corruptf("tree: %v", err)
	}
	path, err := registry.ParsePath(d.Path)
	if err != nil || path != d.Path || path == "" {
		return corruptf("path %q is not a canonical registry key path", d.Path)
	}
	depth := strings.Count(path, `\`) + 1
	if last := path[strings.LastIndexByte(path, '\\')+1:]; registry.Fold(t.Name) != registry.Fold(last) {
		return corruptf("tree %q is not the last key of %q", t.Name, d.Path)
	}
	if err := t.Validate(depth - 1); err != nil {
		return corruptf("tree: %v", err)
	}
	again, err := t.AppendJSON(make([]byte, 0, len(raw)))
	if err != nil || !bytes.Equal(again, raw) {
		return corruptf("the tree is not in canonical form")
	}
	d.Tree = &t
	return nil
}

func open(d *Document, w wireDoc, key []byte) error {
	nonce, err1 := base64.StdEncoding.DecodeString(w.Sealed.Nonce)
	ct, err2 := base64.StdEncoding.DecodeString(w.Sealed.Ciphertext)
	if err := errors.Join(err1, err2); err != nil {
		return corruptf("sealed payload: %v", err)
	}
	if key == nil {
		return fmt.Errorf("%w (%s of resource %s, container %q)", ErrNoCryptoKey, d.FileName(), d.Resource, d.Path)
	}
	if id := KeyID(key); id != w.Sealed.KeyID {
		return fmt.Errorf("%w: %s of resource %s was sealed with key %s, this node has key %s", ErrWrongCryptoKey, d.FileName(), d.Resource, w.Sealed.KeyID, id)
	}
	g, err := aead(key)
	if err != nil {
		return err
	}
	if len(nonce) != g.NonceSize() {
		return corruptf("sealed payload: nonce of %d bytes", len(nonce))
	}
	h := w
	h.Tree, h.Sealed, h.SHA256 = nil, nil, ""
	ad, err := json.Marshal(h)
	if err != nil {
		return err
	}
	pt, err := g.Open(nil, nonce, ct, ad)
	if err != nil {
		return corruptf("sealed payload of %s does not authenticate under the cluster key", d.FileName())
	}
	if len(pt) > 0 {
		d.Material = pt
	}
	return nil
}
