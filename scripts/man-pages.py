#!/usr/bin/env python3
"""Man pages of the installed programs, generated from what the programs and the reference say.

    scripts/man-pages.py BIN_DIR OUT_DIR [--date YYYY-MM-DD]

writes OUT_DIR/man8/opsctl.8 (ArgumentParser's own description of every command, option and
exit status: `opsctl --experimental-dump-help`, with backup and restore taken from the companion
opsctl-backup, which carries them out), OUT_DIR/man8/opsd.8 (from `opsd --help`: opsd parses its
two options by hand) and OUT_DIR/man5/ops.yaml.5 (from examples/ops.yaml, the commented
reference). Nothing generated is committed: install.sh and deb.sh run this, so the pages always
describe the programs they ship with. Plain man(7) macros, so `man --warnings` has nothing to say.
"""
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def esc(text):
    """Text for a roff line: backslashes, leading dots and quotes, and dashes that are options."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    if text[:1] in (".", "'"):
        text = "\\&" + text
    return text


def para(text):
    """Paragraphs of running text; blank lines separate them, and indented lines (examples,
    tables) keep their lines."""
    out = []
    for chunk in re.split(r"\n\s*\n", text.strip()):
        out.append(".PP")
        lines = chunk.splitlines()
        while lines:
            if lines[0].startswith(" "):
                block = []
                while lines and lines[0].startswith(" "):
                    block.append(lines.pop(0))
                out += [".nf", ".RS 2"] + [esc(line) for line in block] + [".RE", ".fi"]
            else:
                line = lines.pop(0).strip()
                if line:
                    out.append(esc(line))
    return out


def literal(lines):
    out = [".PP", ".nf", ".RS 2"]
    out.extend(esc(line) if line.strip() else "" for line in lines)
    out += [".RE", ".fi"]
    return out


def header(name, section, date, title):
    return [f'.TH "{name.upper()}" "{section}" "{date}" "opsd {version()}" "{title}"']


def version():
    text = open(os.path.join(ROOT, "Sources/OpsConfig/Version.swift")).read()
    return re.search(r'opsVersion = "([^"]+)"', text).group(1)


def dump_help(program):
    return json.loads(subprocess.run([program, "--experimental-dump-help"], check=True, capture_output=True, text=True).stdout)["command"]


def synopsis_of(argument):
    names = argument.get("names") or []
    preferred = argument.get("preferredName") or (names[0] if names else None)
    if argument["kind"] == "positional":
        word = f"<{argument.get('valueName', 'value')}>"
    else:
        dashes = "-" if preferred["kind"] == "short" else "--"
        word = dashes + preferred["name"]
        if argument["kind"] == "option":
            word += f" <{argument.get('valueName', 'value')}>"
    if argument.get("isRepeating"):
        word += " ..."
    return f"[{word}]" if argument.get("isOptional") else word


def option_label(argument):
    if argument["kind"] == "positional":
        return f"<{argument.get('valueName', 'value')}>"
    names = sorted(argument.get("names") or [], key=lambda n: n["kind"] != "short")
    label = ", ".join(("-" if n["kind"] == "short" else "--") + n["name"] for n in names)
    if argument["kind"] == "option":
        label += f" <{argument.get('valueName', 'value')}>"
    return label


def command_section(command, path, inherited, parent_discussion=None):
    """One command's subsection: synopsis, abstract, discussion, options; then its subcommands."""
    out = []
    arguments = [a for a in command.get("arguments", []) if a.get("shouldDisplay", True)
                 and a.get("preferredName", {}).get("name") not in ("help", "version")]
    own = [a for a in arguments if option_label(a) not in inherited]
    words = " ".join(path)
    if path[1:]:
        out.append(f'.SS "{esc(words)}"')
        out.append(".B " + esc(words))
        out.append(esc(" ".join(synopsis_of(a) for a in own)) if own else "")
        if command.get("abstract"):
            out += para(command["abstract"])
    if command.get("discussion") and command["discussion"] != parent_discussion:
        out += para(command["discussion"])
    for argument in own:
        out.append(".TP")
        out.append(".B " + esc(option_label(argument)))
        out.append(esc(argument.get("abstract") or ""))
        extra = argument.get("discussion")
        if isinstance(extra, str) and extra:
            out.append(esc(extra))
        default = argument.get("defaultValue")
        if default and default not in ("false",):
            out.append(esc(f"(default: {default})"))
    shared = inherited | {option_label(a) for a in arguments}
    for sub in command.get("subcommands", []):
        if sub["commandName"] == "help" or not sub.get("shouldDisplay", True):
            continue
        out += command_section(sub, path + [sub["commandName"]], shared if not path[1:] else inherited, command.get("discussion"))
    return out


def opsctl_page(bin_dir, date):
    root = dump_help(os.path.join(bin_dir, "opsctl"))
    companion = dump_help(os.path.join(bin_dir, "opsctl-backup"))
    carried = {c["commandName"]: c for c in companion.get("subcommands", [])}
    root["subcommands"] = [carried.get(c["commandName"], c) for c in root["subcommands"]]
    global_options = [a for a in root["arguments"] if a.get("shouldDisplay", True) and a["preferredName"]["name"] not in ("help", "version")]
    out = header("opsctl", 8, date, "System Administration")
    out += [".SH NAME", "opsctl \\- " + esc(root["abstract"].rstrip("."))]
    out += [".SH SYNOPSIS", ".B opsctl", esc(" ".join(synopsis_of(a) for a in global_options) + " <command> [<options>]"),
            ".br", ".B opsctl", "\\-\\-version | \\-\\-help | <command> \\-\\-help"]
    out += [".SH DESCRIPTION"] + para(root.get("discussion", "").split("Exit status:")[0])
    out += [".SH OPTIONS", "These work before the command name and after it."]
    for argument in global_options:
        out += [".TP", ".B " + esc(option_label(argument)), esc(argument.get("abstract") or "")]
    out += [".TP", ".B \\-\\-version",
            "The version, the commit it was built from, and the SQLite, libgit2 (read from opsctl\\-backup) and systemd (the running manager) it runs with."]
    out += [".SH COMMANDS"]
    out += command_section(root, ["opsctl"], {option_label(a) for a in global_options})[len(para(root.get("discussion", ""))):]
    exit_text = root.get("discussion", "").split("Exit status:")
    out += [".SH EXIT STATUS"] + (para("Exit status:" + exit_text[1]) if len(exit_text) > 1 else [])
    out += [".SH ENVIRONMENT", ".TP", ".B OPS_CONFIG", "The configuration file when \\-\\-config is not given (default /etc/ops/ops.yaml)."]
    out += [".SH FILES", ".TP", ".I /etc/ops/ops.yaml", "The configuration, see", ".BR ops.yaml (5).",
            ".TP", ".I /usr/bin/opsctl\\-backup", "Carries out opsctl backup and opsctl restore; it must sit beside opsctl."]
    out += [".SH SEE ALSO", ".BR opsd (8),", ".BR ops.yaml (5),", ".BR systemctl (1),", ".BR journalctl (1)"]
    return out


def opsd_page(bin_dir, date):
    text = subprocess.run([os.path.join(bin_dir, "opsd"), "--help"], check=True, capture_output=True, text=True).stdout
    first, _, rest = text.partition("\n")
    name, _, summary = first.partition(":")
    blocks = re.split(r"\n\s*\n", rest.strip())
    out = header("opsd", 8, date, "System Administration") + [".SH NAME", "opsd \\- " + esc(summary.strip().rstrip("."))]
    description, signals, exits = [], [], []
    for block in blocks:
        if block.startswith("Usage:"):
            out += [".SH SYNOPSIS", ".B opsd", esc(block[len("Usage: opsd"):].strip())]
        elif block.startswith("Options:"):
            options = []
            for line in block.splitlines()[1:]:
                if line.strip().startswith("-"):
                    label, _, help = line.strip().partition("  ")
                    options.append([label.strip(), help.strip()])
                elif options:
                    options[-1][1] += " " + line.strip()
            option_lines = []
            for label, help in options:
                option_lines += [".TP", ".B " + esc(label), esc(help)]
            out_options = option_lines
        elif block.startswith("Signals:"):
            signals = para(block[len("Signals:"):])
        elif block.startswith("Exit status:"):
            exits = para(block[len("Exit status:"):])
        else:
            description.append(block)
    summary = summary.strip()
    out += [".SH DESCRIPTION"] + para(summary[:1].upper() + summary[1:]) + para("\n\n".join(description))
    out += [".SH OPTIONS"] + out_options
    out += [".SH SIGNALS"] + signals + [".SH EXIT STATUS"] + exits
    out += [".SH FILES", ".TP", ".I /etc/ops/ops.yaml", "The configuration, see", ".BR ops.yaml (5).",
            ".TP", ".I /lib/systemd/system/opsd.service", "The unit that runs opsd as the user ops (Type=notify, watchdog).",
            ".TP", ".I /var/lib/ops", "opsd's state: job runs, check history, backup bookkeeping."]
    out += [".SH SEE ALSO", ".BR opsctl (8),", ".BR ops.yaml (5),", ".BR systemd.service (5)"]
    return out


def config_page(date):
    lines = open(os.path.join(ROOT, "examples/ops.yaml")).read().splitlines()
    out = header("ops.yaml", 5, date, "File Formats") + [".SH NAME", "ops.yaml \\- the configuration of opsd and opsctl"]
    intro = []
    while lines and (lines[0].startswith("#") or not lines[0].strip()):
        intro.append(lines.pop(0))
    # The comment paragraph right above the first section belongs to that section.
    lead = []
    while intro and intro[-1].startswith("#"):
        lead.insert(0, intro.pop())
    text = [re.sub(r"^# ?", "", line) for line in intro]
    text[0] = re.sub(r"^ops\.yaml\s+\S+\s+", "", text[0])
    text[0] = text[0][:1].upper() + text[0][1:]
    out += [".SH DESCRIPTION"]
    # Indented comment lines (value forms, commands) stay as they are written.
    chunk = []
    for line in text + [""]:
        if line.startswith("  "):
            chunk.append(line)
            continue
        if chunk:
            out += literal(chunk)
            chunk = []
        out.append(esc(line) if line.strip() else ".PP")
    out += [".SH SECTIONS", "Each section as the reference gives it, with its defaults; lines starting with # are optional settings."]
    sections, pending = [], lead
    for line in lines:
        if re.match(r"^[a-z_]+:", line):
            # A comment paragraph right above a section describes it; other comments stay in the YAML.
            sections.append((line.split(":")[0], pending, [line]))
            pending = []
        elif line.startswith("#"):
            pending.append(line)
        elif sections:
            sections[-1][2].extend(pending + [line])
            pending = []
    if sections:
        sections[-1][2].extend(pending)
    for name, comments, body in sections:
        out.append(f'.SS "{name}"')
        if comments:
            out += para(" ".join(re.sub(r"^# ?", "", c) for c in comments))
        while body and not body[-1].strip():
            body.pop()
        out += literal(body)
    out += [".SH FILES", ".TP", ".I /etc/ops/ops.yaml", "The default location; opsd \\-\\-config and opsctl \\-\\-config name another (or $OPS_CONFIG).",
            ".TP", ".I /usr/share/doc/opsd/examples/ops.yaml", "This reference, as a file to copy from."]
    out += [".SH SEE ALSO", ".BR opsd (8),", ".BR opsctl (8)"]
    return out


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: scripts/man-pages.py BIN_DIR OUT_DIR [--date YYYY-MM-DD]")
    bin_dir, out_dir = sys.argv[1], sys.argv[2]
    date = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--date" else subprocess.run(
        ["git", "-C", ROOT, "log", "-1", "--format=%cs"], capture_output=True, text=True).stdout.strip() or "2026-01-01"
    pages = {"man8/opsctl.8": opsctl_page(bin_dir, date), "man8/opsd.8": opsd_page(bin_dir, date), "man5/ops.yaml.5": config_page(date)}
    for path, page in pages.items():
        os.makedirs(os.path.dirname(os.path.join(out_dir, path)), exist_ok=True)
        with open(os.path.join(out_dir, path), "w") as out:
            out.write("\n".join(page) + "\n")
