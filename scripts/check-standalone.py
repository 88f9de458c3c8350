#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# check-standalone.py - the repository stands alone: a reader of it needs no
# document outside it. A TAP test of `make check` (suite "docs",
# tests/meson.build). Usage: check-standalone.py [SOURCE_ROOT]
#
# Files: the tracked files (git ls-files) when SOURCE_ROOT is a git checkout,
# else every file under it except build directories and .git; binary files
# are skipped. Checks:
#   1. no file names a path outside the repository: the design brief, its
#      reference notes and mailing-list seeds that lived next to it, "../"
#      out of the tree, or absolute paths of the machine it was written on;
#   2. every "docs/<name>.md" a file names exists, and every relative link
#      of a Markdown file resolves to a file or folder of the repository;
#   3. every section cited with the section sign ("docs/design.md" followed
#      by the sign and N or N.M, or the sign alone, which always means
#      docs/design.md) is a numbered heading of docs/design.md;
#   4. every hazard named as H<n> is defined in docs/design.md ("### H<n>.");
#   5. docs/design.md's numbered headings are unique.
# Each failure prints file:line and the offending text as a TAP comment.
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
SELF = 'scripts/check-standalone.py'  # names the patterns it looks for: not checked for them
DESIGN = 'docs/design.md'
SECT = '\u00a7'  # the section sign, spelled so that this file cites nothing

# Out-of-repository references (check 1). The brief and its notes lived in a
# folder next to the repository; name them so a copied reference is caught.
OUTSIDE = [
    (re.compile(r'\.\./shared\b'), 'the folder next to the repository'),
    (re.compile(r'(?<![\w.-])shared/(?:reference|seeds|hooks)\b'), 'the brief\'s folder'),
    (re.compile(r'\bARCHITECTURE\b'), 'the design brief (use docs/design.md)'),
    (re.compile(r'\b(?:fault-mechanics|kernel-anchors|userspace-anchors|fuse-notes)(?:\.md)?\b'),
     'a reference note outside the repository'),
    (re.compile(r'\bseeds?\s+0\d\d\b'), 'a seed thread outside the repository'),
    (re.compile(r'(?<![\w.])/work/(?:shared|main|wt-|prompts)'), 'a path of the build machine'),
]
DOC_REF = re.compile(r'\bdocs/[A-Za-z0-9_.-]+\.md\b')
MD_LINK = re.compile(r'\]\(([^)\s]+)\)')
CITE = re.compile(SECT + r'\s?(\d+(?:\.\d+)?)')
HAZARD = re.compile(r'(?<![\w-])H(\d+)(?![\w-])')
HEADING = re.compile(r'^#{2,4}\s+(\d+(?:\.\d+)?)[.\s]')
HAZARD_HEADING = re.compile(r'^###\s+H(\d+)\.')


def tracked_files():
    try:
        out = subprocess.run(['git', '-C', ROOT, 'ls-files', '-z'], check=True,
                             capture_output=True).stdout
        top = subprocess.run(['git', '-C', ROOT, 'rev-parse', '--show-toplevel'], check=True,
                             capture_output=True, text=True).stdout.strip()
        if os.path.realpath(top) == os.path.realpath(ROOT):
            return sorted(f for f in out.decode().split('\0') if f)
    except (OSError, subprocess.CalledProcessError):
        pass
    files = []
    for d, dirs, names in os.walk(ROOT):
        dirs[:] = [x for x in dirs if x != '.git' and not x.startswith('build')
                   and not os.path.exists(os.path.join(d, x, 'meson-private'))]
        files += [os.path.relpath(os.path.join(d, n), ROOT) for n in names]
    return sorted(files)


def text_lines(path):
    try:
        with open(os.path.join(ROOT, path), 'rb') as f:
            data = f.read()
    except OSError:
        return None
    if b'\0' in data[:8192]:
        return None
    return data.decode('utf-8', 'replace').splitlines()


def main():
    files = tracked_files()
    texts = {}
    for f in files:
        lines = text_lines(f)
        if lines is not None:
            texts[f] = lines
    design = texts.get(DESIGN)
    sections, hazards, dup = set(), set(), []
    for line in design or []:
        m = HEADING.match(line)
        if m:
            if m.group(1) in sections:
                dup.append(m.group(1))
            sections.add(m.group(1))
        m = HAZARD_HEADING.match(line)
        if m:
            hazards.add(m.group(1))

    fails = {k: [] for k in range(1, 6)}
    for f, lines in texts.items():
        checked_self = f == SELF
        for no, line in enumerate(lines, 1):
            where = '%s:%d' % (f, no)
            if not checked_self:
                for rx, what in OUTSIDE:
                    m = rx.search(line)
                    if m:
                        fails[1].append('%s: "%s" (%s)' % (where, m.group(0), what))
            for m in DOC_REF.finditer(line):
                if not os.path.isfile(os.path.join(ROOT, m.group(0))):
                    fails[2].append('%s: %s does not exist' % (where, m.group(0)))
            if f.endswith('.md'):
                for m in MD_LINK.finditer(line):
                    target = m.group(1).split('#')[0]
                    if not target or re.match(r'^[a-z]+:', target):
                        continue
                    full = os.path.normpath(os.path.join(ROOT, os.path.dirname(f), target))
                    if not (full + os.sep).startswith(os.path.join(ROOT, '')) \
                            or not os.path.exists(full):
                        fails[2].append('%s: link (%s) leaves the repository or is missing'
                                        % (where, m.group(1)))
            for m in CITE.finditer(line):
                if m.group(1) not in sections:
                    fails[3].append('%s: %s%s is not a section of %s' %
                                    (where, SECT, m.group(1), DESIGN))
            if not checked_self:
                for m in HAZARD.finditer(line):
                    if m.group(1) not in hazards:
                        fails[4].append('%s: H%s is not a hazard of %s' %
                                        (where, m.group(1), DESIGN))
    if design is None:
        fails[3].append('%s is missing' % DESIGN)
    fails[5] = ['%s: section %s heads two sections' % (DESIGN, s) for s in dup]

    names = {
        1: 'no file refers to a path or document outside the repository',
        2: 'every docs/*.md named and every Markdown link resolves inside the repository',
        3: 'every cited section exists in %s' % DESIGN,
        4: 'every hazard H<n> named is defined in %s' % DESIGN,
        5: 'the section numbers of %s are unique' % DESIGN,
    }
    print('1..%d' % len(names))
    print('# %d files, %d text files; %s: %d sections, hazards %s' %
          (len(files), len(texts), DESIGN, len(sections),
           ' '.join('H' + h for h in sorted(hazards, key=int))))
    bad = 0
    for k in sorted(names):
        if fails[k]:
            bad += 1
            print('not ok %d - %s' % (k, names[k]))
            for msg in fails[k][:50]:
                print('#   ' + msg)
            if len(fails[k]) > 50:
                print('#   ... and %d more' % (len(fails[k]) - 50))
        else:
            print('ok %d - %s' % (k, names[k]))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
