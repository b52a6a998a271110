"""Copy fairseq-train's output to a log file and print one short line per logged update.

    fairseq-train ... 2>&1 | python recipes/follow_log.py LOG [--keys loss,mep_acc,oe_acc]

The full output stays in LOG (what quickstart_summary.py reads); the terminal shows progress.
"""

import argparse
import sys

from fairseq_log import parse_record


def short_line(line, keys):
    parsed = parse_record(line)
    if parsed is None:
        return None
    tag, record = parsed
    values = [f"{k} {record[k]}" for k in keys if k in record]
    return f"  {tag:<11} update {record.get('num_updates', '?'):>5}  " + "  ".join(values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log")
    parser.add_argument("--keys", default="loss,mlm_loss,mep_acc,oe_acc")
    args = parser.parse_args()
    keys = args.keys.split(",")
    with open(args.log, "a", encoding="utf-8") as log:
        for line in sys.stdin:
            log.write(line)
            shown = short_line(line, keys)
            if shown:
                print(shown, flush=True)


if __name__ == "__main__":
    main()
