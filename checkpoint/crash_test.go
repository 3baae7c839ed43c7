package checkpoint_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resmon/resmon/checkpoint"
	"github.com/resmon/resmon/checkpoint/registry"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/sdk"
)

// The crash test runs the writer in a child process (this test binary,
// re-executed into TestCrashChild) so that it can be killed with SIGKILL:
// no deferred function, no Offline, no lease revoke.
const crashEnv = "RESMON_CHECKPOINT_CRASH_CHILD"

type crashSpec struct {
	Endpoints []string       `json:"endpoints"`
	TLS       [3]string      `json:"tls"` // CA, certificate and key files
	Resource  model.Resource `json:"resource"`
	Dir       string         `json:"dir"`
	BlockAt   uint32         `json:"block_at"` // hook mode: block the store of the first generation ≥ this
	BigValue  int            `json:"big_value"`
	Base      uint32         `json:"base"` // generations start after it, so they grow across runs
}

const crashKey = `SOFTWARE\Crash`

// generation is the tree every write of the child replaces crashKey with:
// every value, in the key and its subkeys, carries the generation number.
func generation(g uint32, big int) *registry.Key {
	k := &registry.Key{Name: "Crash", SubKeys: []*registry.Key{{Name: "A"}, {Name: "B"}}}
	for _, sub := range append([]*registry.Key{k}, k.SubKeys...) {
		for i := 0; i < 10; i++ {
			sub.Values = append(sub.Values, sdk.DWordValue(fmt.Sprintf("v%d", i), g))
		}
		if big > 0 && sub != k {
			sub.Values = append(sub.Values, sdk.BinaryValue("zbig", bytes.Repeat([]byte{byte(g)}, big)))
		}
	}
	return k
}

// generationOf returns the generation of a tree, or an error if it mixes generations.
func generationOf(k *registry.Key) (uint32, error) {
	var gen uint32
	seen := false
	var walk func(k *registry.Key) error
	walk = func(k *registry.Key) error {
		for _, v := range k.Values {
			g := uint32(v.Num)
			if v.Type == sdk.Binary {
				if len(v.Bytes) == 0 || bytes.Count(v.Bytes, v.Bytes[:1]) != len(v.Bytes) {
					return fmt.Errorf("value %s mixes bytes", v.Name)
				}
				g = uint32(v.Bytes[0])
				if gen&0xff != g {
					return fmt.Errorf("value %s has generation byte %d, others %d", v.Name, g, gen)
				}
				continue
			}
			if seen && g != gen {
				return fmt.Errorf("value %s is generation %d, others %d", v.Name, g, gen)
			}
			gen, seen = g, true
		}
		for _, s := range k.SubKeys {
			if err := walk(s); err != nil {
				return err
			}
		}
		return nil
	}
	if len(k.SubKeys) != 2 {
		return 0, fmt.Errorf("tree has %d subkeys", len(k.SubKeys))
	}
	return gen, walk(k)
}

// TestCrashChild is the writer process; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	raw := os.Getenv(crashEnv)
	if raw == "" {
		t.Skip("runs only as the child of TestCrashBetweenRegistryWriteAndStoreNeverMixes")
	}
	var spec crashSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cli, err := quorum.Connect(ctx, quorum.ClientConfig{Endpoints: spec.Endpoints, CAFile: spec.TLS[0], CertFile: spec.TLS[1], KeyFile: spec.TLS[2]})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := quorum.NewStore(cli, testCluster, nil)
	member, err := st.Join(ctx, quorum.MemberConfig{Node: "crashy", TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Open(filepath.Join(spec.Dir, "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := checkpoint.NewManager(checkpoint.Config{Node: "crashy", Store: st, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	if spec.BlockAt > 0 {
		checkpoint.SetBeforeStore(mgr, func(_ checkpoint.Document, cpt []byte) {
			d, err := checkpoint.Decode(cpt, nil)
			if err != nil || d.Tree == nil {
				return
			}
			if g, err := generationOf(d.Tree); err == nil && g >= spec.BlockAt {
				fmt.Printf("blocked %d\n", g)
				select {} // between the registry write and the store, until SIGKILL
			}
		})
	}
	own, err := st.Acquire(ctx, member, spec.Resource.Group)
	if err != nil {
		t.Fatal(err)
	}
	if err := mgr.Restore(ctx, spec.Resource, own.Fence()); err != nil {
		t.Fatal(err)
	}
	if err := mgr.StartOnline(ctx, spec.Resource, own.Fence()); err != nil {
		t.Fatal(err)
	}
	fmt.Println("online")
	for g := spec.Base + 1; ; g++ {
		if err := reg.Replace(ctx, crashKey, generation(g, spec.BigValue)); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("wrote %d\n", g)
	}
}

// storedMultiChunk reports whether the child has stored a multi-chunk checkpoint.
func storedMultiChunk(c *cluster) bool {
	ms, err := c.admin.ListCheckpoints(ctxT(c.t), c.res.ID)
	return err == nil && len(ms) == 1 && ms[0].Node == "crashy" && ms[0].Chunks > 1
}

// TestCrashBetweenRegistryWriteAndStoreNeverMixes kills a writer that is
// online and rewriting a checkpointed tree in a loop — once exactly between a
// registry write and the store of its checkpoint, and at random moments
// (also during multi-chunk stores) — and checks that the next Restore on
// another node gets one whole generation of the tree, never a mix.
func TestCrashBetweenRegistryWriteAndStoreNeverMixes(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("child")
	}
	c := newCluster(t)
	if _, err := c.admin.AddCheckpoint(ctxT(t), c.res.ID, model.RegistryCheckpoint, crashKey); err != nil {
		t.Fatal(err)
	}
	n2 := c.node("node2")
	runs := []struct {
		name     string
		blockAt  uint32
		killAt   uint32 // kill once this generation is written
		bigValue int
	}{
		{"killed between registry write and store", 40, 0, 0},
		{"killed at a random moment", 0, 25 + uint32(time.Now().UnixNano()%50), 0},
		// Killed at a random point after the first multi-chunk store of
		// this run, so a new generation must come back.
		{"killed during multi-chunk stores", 0, 3 + uint32(time.Now().UnixNano()%20), 700 << 10},
	}
	var restored uint32 // the generation the previous run restored
	for i, run := range runs {
		base := uint32(i) * 1000
		if run.blockAt > 0 {
			run.blockAt += base
		}
		if run.killAt > 0 {
			run.killAt += base
		}
		t.Run(run.name, func(t *testing.T) {
			spec := crashSpec{Endpoints: c.endpoints, TLS: c.tls, Resource: c.res, Dir: t.TempDir(), BlockAt: run.blockAt, BigValue: run.bigValue, Base: base}
			b, _ := json.Marshal(spec)
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
			cmd.Env = append(os.Environ(), crashEnv+"="+string(b))
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// killed is the generation at which the child was killed;
			// written, once its output has ended, the last generation it
			// said it wrote: it goes on writing until the signal lands.
			killed, written := make(chan uint32, 1), make(chan uint32, 1)
			go func() {
				sc := bufio.NewScanner(out)
				var last uint32
				for sc.Scan() {
					line := sc.Text()
					if g, ok := strings.CutPrefix(line, "wrote "); ok {
						n, _ := strconv.Atoi(g)
						last = uint32(n)
						if run.killAt > 0 && last >= run.killAt && (run.bigValue == 0 || storedMultiChunk(c)) {
							cmd.Process.Signal(syscall.SIGKILL)
							break
						}
					}
					if g, ok := strings.CutPrefix(line, "blocked "); ok {
						n, _ := strconv.Atoi(g)
						last = uint32(n)
						cmd.Process.Signal(syscall.SIGKILL)
						break
					}
				}
				killed <- last
				for sc.Scan() {
					if g, ok := strings.CutPrefix(sc.Text(), "wrote "); ok {
						if n, _ := strconv.Atoi(g); uint32(n) > last {
							last = uint32(n)
						}
					}
				}
				written <- last
			}()
			var last uint32
			select {
			case last = <-killed:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("the child did not reach the kill point; stderr:\n%s", stderr.String())
			}
			if last == 0 {
				cmd.Wait()
				t.Fatalf("the child wrote nothing; stderr:\n%s", stderr.String())
			}
			// Read all of the output before Wait, which closes the pipe.
			// The child replaces the tree and then says so: a generation
			// one past the last it said may be in the registry, and stored.
			newest := <-written + 1
			cmd.Wait()

			// The child's lease expires; node2 takes the group over.
			eventually(t, "the dead writer's ownership to expire", func() bool {
				_, err := c.admin.Owner(ctxT(t), c.res.Group)
				return errors.Is(err, quorum.ErrNotFound)
			})
			f := n2.acquire(c.res.Group).Fence()
			if err := n2.mgr.Restore(ctxT(t), c.res, f); err != nil {
				t.Fatal(err)
			}
			tree, _, err := n2.reg.Snapshot(ctxT(t), crashKey)
			if err != nil {
				t.Fatal(err)
			}
			g, err := generationOf(tree)
			if err != nil {
				t.Fatalf("restored a mix of generations: %v", err)
			}
			t.Logf("child killed after writing generation %d (at most %d before the signal landed); node2 restored generation %d", last, newest, g)
			switch {
			case g > newest || g < restored:
				t.Errorf("restored generation %d was never written in this run or the last (at most %d written, restored before %d)", g, newest, restored)
			case run.bigValue > 0 && g <= base:
				t.Errorf("restored generation %d, older than the multi-chunk store seen before the kill", g)
			case run.blockAt > 0 && g >= run.blockAt:
				t.Errorf("restored generation %d, whose store was blocked", g)
			}
			restored = g
			n2.release(c.res.Group)
		})
	}
}
