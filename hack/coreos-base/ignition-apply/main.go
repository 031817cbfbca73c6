// ignition-apply: the CoreOS stand-in's tool that writes an Ignition config
// into a root filesystem, as rpm-ostree/MCO's image builds do on CoreOS.
//
//	ignition-apply [--root DIR] CONFIG.json   (CONFIG "-" reads stdin)
//
// It applies storage.directories, storage.files (contents/append as data: URLs,
// plain or ;base64, optionally gzip-compressed; mode; overwrite),
// storage.links, and systemd.units (contents, dropins, enabled via a
// multi-user.target.wants symlink). Anything it cannot apply is an error.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

type resource struct {
	Source      *string `json:"source"`
	Compression *string `json:"compression"`
}

type node struct {
	Path      string `json:"path"`
	Overwrite *bool  `json:"overwrite"`
	User      *struct {
		ID *int `json:"id"`
	} `json:"user"`
	Group *struct {
		ID *int `json:"id"`
	} `json:"group"`
}

type file struct {
	node
	Contents resource   `json:"contents"`
	Append   []resource `json:"append"`
	Mode     *int       `json:"mode"`
}

type directory struct {
	node
	Mode *int `json:"mode"`
}

type link struct {
	node
	Target string `json:"target"`
	Hard   *bool  `json:"hard"`
}

type unit struct {
	Name     string  `json:"name"`
	Enabled  *bool   `json:"enabled"`
	Mask     *bool   `json:"mask"`
	Contents *string `json:"contents"`
	Dropins  []struct {
		Name     string  `json:"name"`
		Contents *string `json:"contents"`
	} `json:"dropins"`
}

type config struct {
	Ignition struct {
		Version string `json:"version"`
	} `json:"ignition"`
	Storage struct {
		Directories []directory `json:"directories"`
		Files       []file      `json:"files"`
		Links       []link      `json:"links"`
	} `json:"storage"`
	Systemd struct {
		Units []unit `json:"units"`
	} `json:"systemd"`
}

func decodeDataURL(src string) ([]byte, error) {
	if !strings.HasPrefix(src, "data:") {
		return nil, fmt.Errorf("unsupported source %.40q (only data: URLs)", src)
	}
	rest := src[len("data:"):]
	comma := strings.IndexByte(rest, ',')
	if comma < 0 {
		return nil, fmt.Errorf("malformed data URL: no comma")
	}
	meta, data := rest[:comma], rest[comma+1:]
	if strings.HasSuffix(meta, ";base64") {
		data = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
				return -1
			}
			return r
		}, data)
		if b, err := base64.StdEncoding.DecodeString(data); err == nil {
			return b, nil
		}
		return base64.RawStdEncoding.DecodeString(strings.TrimRight(data, "="))
	}
	s, err := url.PathUnescape(data)
	if err != nil {
		return nil, fmt.Errorf("malformed data URL: %w", err)
	}
	return []byte(s), nil
}

func fetch(r resource) ([]byte, error) {
	if r.Source == nil {
		return []byte{}, nil
	}
	b, err := decodeDataURL(*r.Source)
	if err != nil {
		return nil, err
	}
	if r.Compression != nil && *r.Compression != "" {
		if *r.Compression != "gzip" {
			return nil, fmt.Errorf("unsupported compression %q", *r.Compression)
		}
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	}
	return b, nil
}

func chown(p string, n node) error {
	uid, gid := -1, -1
	if n.User != nil && n.User.ID != nil {
		uid = *n.User.ID
	}
	if n.Group != nil && n.Group.ID != nil {
		gid = *n.Group.ID
	}
	if uid == -1 && gid == -1 {
		return nil
	}
	return os.Lchown(p, uid, gid)
}

func main() {
	root := flag.String("root", "/", "root filesystem to write into")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: ignition-apply [--root DIR] CONFIG.json|-")
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*root, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "ignition-apply:", err)
		os.Exit(1)
	}
}

func run(root, configPath string) error {
	var raw []byte
	var err error
	if configPath == "-" {
		raw, err = io.ReadAll(os.Stdin)
	} else {
		raw, err = os.ReadFile(configPath)
	}
	if err != nil {
		return err
	}
	var cfg config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("parsing %s: %w", configPath, err)
	}
	under := func(p string) (string, error) {
		if !strings.HasPrefix(p, "/") {
			return "", fmt.Errorf("path %q is not absolute", p)
		}
		return filepath.Join(root, filepath.Clean(p)), nil
	}
	count := 0
	for _, d := range cfg.Storage.Directories {
		p, err := under(d.Path)
		if err != nil {
			return err
		}
		mode := os.FileMode(0o755)
		if d.Mode != nil {
			mode = os.FileMode(*d.Mode)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.Mkdir(p, mode); err != nil && !os.IsExist(err) {
			return err
		}
		if err := os.Chmod(p, mode); err != nil {
			return err
		}
		if err := chown(p, d.node); err != nil {
			return err
		}
		count++
	}
	for _, f := range cfg.Storage.Files {
		p, err := under(f.Path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		var content []byte
		if f.Contents.Source != nil || len(f.Append) == 0 {
			if content, err = fetch(f.Contents); err != nil {
				return fmt.Errorf("%s: %w", f.Path, err)
			}
		} else if old, err := os.ReadFile(p); err == nil {
			content = old
		}
		for _, a := range f.Append {
			b, err := fetch(a)
			if err != nil {
				return fmt.Errorf("%s (append): %w", f.Path, err)
			}
			content = append(content, b...)
		}
		mode := os.FileMode(0o644)
		if f.Mode != nil {
			mode = os.FileMode(*f.Mode)
		}
		_ = os.Remove(p)
		if err := os.WriteFile(p, content, mode); err != nil {
			return err
		}
		if err := os.Chmod(p, mode); err != nil {
			return err
		}
		if err := chown(p, f.node); err != nil {
			return err
		}
		count++
	}
	for _, l := range cfg.Storage.Links {
		p, err := under(l.Path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		_ = os.Remove(p)
		if l.Hard != nil && *l.Hard {
			t, err := under(l.Target)
			if err != nil {
				return err
			}
			err = os.Link(t, p)
			if err != nil {
				return err
			}
		} else if err := os.Symlink(l.Target, p); err != nil {
			return err
		}
		count++
	}
	unitDir := filepath.Join(root, "etc/systemd/system")
	for _, u := range cfg.Systemd.Units {
		if u.Name == "" || strings.Contains(u.Name, "/") {
			return fmt.Errorf("bad unit name %q", u.Name)
		}
		if err := os.MkdirAll(unitDir, 0o755); err != nil {
			return err
		}
		p := filepath.Join(unitDir, u.Name)
		if u.Mask != nil && *u.Mask {
			_ = os.Remove(p)
			if err := os.Symlink("/dev/null", p); err != nil {
				return err
			}
		} else if u.Contents != nil {
			if err := os.WriteFile(p, []byte(*u.Contents), 0o644); err != nil {
				return err
			}
		}
		for _, d := range u.Dropins {
			if d.Contents == nil {
				continue
			}
			dd := filepath.Join(unitDir, u.Name+".d")
			if err := os.MkdirAll(dd, 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dd, d.Name), []byte(*d.Contents), 0o644); err != nil {
				return err
			}
		}
		if u.Enabled != nil {
			wants := filepath.Join(unitDir, "multi-user.target.wants")
			link := filepath.Join(wants, u.Name)
			_ = os.Remove(link)
			if *u.Enabled {
				if err := os.MkdirAll(wants, 0o755); err != nil {
					return err
				}
				if err := os.Symlink("/etc/systemd/system/"+u.Name, link); err != nil {
					return err
				}
			}
		}
		count++
	}
	fmt.Printf("ignition-apply: applied %d entries from %s (ignition %s) under %s\n", count, configPath, cfg.Ignition.Version, root)
	return nil
}
