package templates

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"testing/fstest"
)

// FileError is a template file that cannot be used: it does not parse, does not render, or is not a template name.
// File is the file's name as given to WithOverrides ("reminder.txt", "de/reminder.html").
type FileError struct {
	File string
	Err  error
}

func (e *FileError) Error() string { return e.File + ": " + e.Err.Error() }

func (e *FileError) Unwrap() error { return e.Err }

// MaxOverrideFiles and MaxOverrideBytes bound the templates one WithOverrides call takes.
const (
	MaxOverrideFiles = 64
	MaxOverrideBytes = 32 << 10 // per file
)

// WithOverrides returns a copy of s in which the organisation's templates are overridden by files, as if they were
// in its templates_dir: each key is a file name as templates_dir holds it (FileName, directly or under a base
// language: "reminder.txt", "de/reminder.html"), each value the template's text. s is not changed. Every file is
// parsed and the organisation's templates are trial-rendered with sample data, as Load does, so a template that an
// edit would break is refused before anything renders with it. The error is a *FileError naming the first file at
// fault (in name order).
func (s *Set) WithOverrides(org string, files map[string]string) (*Set, error) {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) > MaxOverrideFiles {
		return nil, &FileError{File: names[MaxOverrideFiles], Err: fmt.Errorf("more than %d templates", MaxOverrideFiles)}
	}
	fsys := fstest.MapFS{}
	langs := map[string]bool{}
	for _, name := range names {
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		switch {
		case dir != "" && !langDirRe.MatchString(dir):
			return nil, &FileError{File: name, Err: errors.New("the directory must be a base language such as de")}
		case len(files[name]) > MaxOverrideBytes:
			return nil, &FileError{File: name, Err: fmt.Errorf("is longer than %d bytes", MaxOverrideBytes)}
		}
		if _, _, _, ok := parseFileName(base); !ok {
			return nil, &FileError{File: name, Err: fmt.Errorf("not a template name: expected <type>.subject.txt, "+
				"<type>.html, <type>.txt or <type>.sms.txt, with type one of %s, or <type>.ics-summary.txt or "+
				"<type>.ics-description.txt with type create, reschedule or cancelled", typeList())}
		}
		fsys[name] = &fstest.MapFile{Data: []byte(files[name])}
		if dir != "" {
			langs[dir] = true
		}
	}
	ns := &Set{defaults: s.defaults, orgs: map[string]*orgTemplates{}}
	for id, ot := range s.orgs {
		ns.orgs[id] = ot
	}
	ot := &orgTemplates{name: org, all: bundle{}, langs: map[string]bundle{}}
	if old := s.orgs[org]; old != nil {
		ot.name = old.name
		for k, t := range old.all {
			ot.all[k] = t
		}
		for code, b := range old.langs {
			ot.langs[code] = bundle{}
			for k, t := range b {
				ot.langs[code][k] = t
			}
		}
	}
	if err := overlay(fsys, ".", "", ot.all); err != nil {
		return nil, err
	}
	for code := range langs {
		if ot.langs[code] == nil {
			ot.langs[code] = bundle{}
		}
		if err := overlay(fsys, code, code+"/", ot.langs[code]); err != nil {
			return nil, err
		}
	}
	ns.orgs[org] = ot
	if err := ns.trial(org); err != nil {
		for _, name := range names {
			if strings.HasPrefix(err.Error(), name+": ") {
				return nil, &FileError{File: name, Err: errors.Unwrap(err)}
			}
		}
		return nil, &FileError{Err: err}
	}
	return ns, nil
}

// overlay parses the files of one directory of fsys into b, replacing what b had for the same type and part.
func overlay(fsys fstest.MapFS, dir, prefix string, b bundle) error {
	parsed, err := parseDir(fsys, dir, prefix)
	if err != nil {
		// parseDir's errors start with the file's name: prefix + name.
		msg := err.Error()
		if i := strings.Index(msg, ": "); i > 0 {
			return &FileError{File: msg[:i], Err: errors.New(msg[i+2:])}
		}
		return &FileError{Err: err}
	}
	for k, t := range parsed {
		b[k] = t
	}
	return nil
}
