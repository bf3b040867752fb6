// Command mkimage writes a container image tarball (the docker-archive
// format that `ctr images import` reads) from static binaries and small
// files, without Docker or a registry: one layer, an entrypoint, nothing
// else. hack/cluster/images.sh uses it to build the images of make
// test-cluster.
//
//	mkimage -tag localhost/hamon:dev -o hamon.tar \
//	  -add bin/manager=/usr/local/bin/manager -entrypoint /usr/local/bin/manager
//
// Files get fixed times and owners, so the same inputs give the same image
// digest.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// list is a repeatable flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var adds, entry, labels list
	tag := flag.String("tag", "", "Image reference, e.g. localhost/hamon:dev.")
	out := flag.String("o", "", "Output tarball.")
	user := flag.String("user", "", "The image's user (uid:gid); empty: root.")
	flag.Var(&adds, "add", "SRC=DST: put the file SRC at DST in the image (repeatable; executable if SRC is).")
	flag.Var(&entry, "entrypoint", "The entrypoint, one argument per flag (repeatable).")
	flag.Var(&labels, "label", "KEY=VALUE: an image label (repeatable).")
	flag.Parse()
	if *tag == "" || *out == "" || len(adds) == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := build(*tag, *out, *user, adds, entry, labels); err != nil {
		log.Fatal(err)
	}
}

func build(tag, out, user string, adds, entry, labels []string) error {
	layer, err := layerOf(adds)
	if err != nil {
		return err
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer)), nil })
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config = v1.Config{Entrypoint: entry, Env: []string{"PATH=/usr/local/bin:/"}, User: user, Labels: map[string]string{}}
	for _, kv := range labels {
		k, v, _ := strings.Cut(kv, "=")
		cf.Config.Labels[k] = v
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return err
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	if err := tarball.WriteToFile(out, ref, img); err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s %s %s\n", out, tag, d)
	return nil
}

// layerOf builds the layer: the files, their parent directories and /tmp.
func layerOf(adds []string) ([]byte, error) {
	type file struct {
		data []byte
		mode int64
	}
	files := map[string]file{}
	dirs := map[string]bool{"tmp": true}
	for _, a := range adds {
		src, dst, ok := strings.Cut(a, "=")
		if !ok || !strings.HasPrefix(dst, "/") {
			return nil, fmt.Errorf("-add %q: want SRC=/absolute/DST", a)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		st, err := os.Stat(src)
		if err != nil {
			return nil, err
		}
		mode := int64(0o644)
		if st.Mode()&0o111 != 0 {
			mode = 0o755
		}
		p := strings.TrimPrefix(path.Clean(dst), "/")
		files[p] = file{data: data, mode: mode}
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	var names []string
	for d := range dirs {
		names = append(names, d+"/")
	}
	for f := range files {
		names = append(names, f)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	for _, n := range names {
		h := &tar.Header{Name: n, ModTime: epoch, Format: tar.FormatPAX}
		if strings.HasSuffix(n, "/") {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
			if n == "tmp/" {
				h.Mode = 0o1777
			}
			if err := tw.WriteHeader(h); err != nil {
				return nil, err
			}
			continue
		}
		f := files[n]
		h.Typeflag, h.Mode, h.Size = tar.TypeReg, f.mode, int64(len(f.data))
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
