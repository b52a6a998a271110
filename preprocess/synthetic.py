"""Generate a synthetic knowledge data directory in the real layout.

For tests and benchmarks: the data is learnable by construction. Each entity has name
tokens (what a mention masks) and attribute tokens shared across languages; a sentence
mentioning it carries some of its attributes as context, and each of its descriptions
carries all of them, so Masked Entity Prediction can be solved from context, across
languages. A subject's descriptions state its facts as "relation-word object-name", so
Object Entailment can be solved from the subject description and the relation. Fillers
are language-specific random words that carry no information.

    python -m preprocess.synthetic OUT_DIR [--entities 64] [--langs en,de,zh]
"""

import argparse

import numpy as np

from .knowledge_dir_writer import KnowledgeDirWriter


def make_synthetic_data(out_dir, num_entities=64, languages=("en", "de", "zh"),
                        num_relations=8, sentences_per_entity=6, fillers_per_lang=200,
                        facts_per_entity=3, valid_fraction=0.15, seed=0, overwrite=True):
    rng = np.random.default_rng(seed)
    symbols = []

    def new_symbol(name):
        symbols.append((name, 100))
        return len(symbols) + 3  # fairseq ids: 4 specials first

    names = [[new_symbol(f"e{e}n{j}") for j in range(2)] for e in range(num_entities)]
    attrs = [[new_symbol(f"e{e}a{j}") for j in range(3)] for e in range(num_entities)]
    fillers = {l: [new_symbol(f"{l}w{i}") for i in range(fillers_per_lang)] for l in languages}
    rel_words = {l: [new_symbol(f"{l}r{r}") for r in range(num_relations)] for l in languages}

    facts = []
    for s in range(num_entities):
        for r in rng.choice(num_relations, size=facts_per_entity, replace=False):
            o = int(rng.integers(num_entities - 1))
            facts.append((s, int(r), o + (o >= s)))
    facts = np.asarray(facts, dtype=np.int32)

    def filler(lang, n):
        return [int(x) for x in rng.choice(fillers[lang], size=n)]

    descriptions = {}
    for e in range(num_entities):
        descriptions[e] = {}
        for lang in languages:
            tokens = list(names[e]) + filler(lang, 2) + list(rng.permutation(attrs[e]))
            for s, r, o in facts[facts[:, 0] == e]:
                tokens += filler(lang, 1) + [rel_words[lang][r], names[o][0]]
            descriptions[e][lang] = [int(t) for t in tokens + filler(lang, int(rng.integers(2, 10)))]

    writer = KnowledgeDirWriter(out_dir, languages, symbols, overwrite=overwrite)
    for lang in languages:
        for e in range(num_entities):
            for k in range(sentences_per_entity):
                split = "valid" if rng.random() < valid_fraction else "train"
                context = [int(x) for x in rng.choice(attrs[e], size=2, replace=False)]
                left, right = filler(lang, int(rng.integers(2, 8))), filler(lang, int(rng.integers(2, 8)))
                sentence = left + context + list(names[e]) + right
                start = len(left) + len(context)
                writer.add_mep_sentence(lang, split, sentence, [(start, start + 2, e)])
                writer.add_mlm_document(lang, split, [sentence, filler(lang, 12)])
            writer.add_mlm_document(lang, "train", [descriptions[e][lang]])

    order = rng.permutation(len(facts))
    n_valid = max(1, int(len(facts) * valid_fraction))
    writer.write_knowledge(
        entities=[(f"Q{1000 + e}", f"entity {e}") for e in range(num_entities)],
        relations=[(f"P{100 + r}", f"relation {r}") for r in range(num_relations)],
        descriptions=descriptions,
        triples_by_split={"train": facts[order[n_valid:]], "valid": facts[order[:n_valid]]},
    )
    return writer.finalize(source="synthetic (preprocess/synthetic.py)", seed=seed)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--entities", type=int, default=64)
    parser.add_argument("--langs", default="en,de,zh")
    parser.add_argument("--relations", type=int, default=8)
    parser.add_argument("--sentences-per-entity", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = make_synthetic_data(
        args.out_dir, num_entities=args.entities, languages=args.langs.split(","),
        num_relations=args.relations, sentences_per_entity=args.sentences_per_entity,
        seed=args.seed,
    )
    print(out)


if __name__ == "__main__":
    main()
