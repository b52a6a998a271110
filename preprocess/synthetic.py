"""Generate a synthetic knowledge data directory in the real layout.

For tests and benchmarks: the data is learnable by construction, and tests/test_learning.py
checks that a tiny encoder, first trained with MLM, learns both knowledge tasks from it.

Each entity has two name tokens (what a mention masks) and three attribute tokens, shared
across languages (like names and numbers). Facts are (subject, relation, object) triples.
A sentence mentioning an entity reads "filler attribute attribute NAME NAME relation-word
object-name object-name filler": two of the entity's attributes and one of its facts as
context, with 0-2 random filler words on either side. Each of the entity's descriptions
reads "names attributes facts filler", every fact as "filler relation-word object-names
object-attributes" (attributes in random order). So Masked Entity Prediction can be solved
from the context, across languages (the context and the descriptions share the attributes
and the fact), and Object Entailment from the subject description and the relation. The
valid facts are held out of OE training only: descriptions and sentences state every fact,
so OE on them is solved by reading the subject description. Fillers (``fillers_per_lang``
per language) and relation words are language-specific; fillers are random and carry no
information. The MLM text is every sentence, as a document of its own in the sentence's
split, plus every description (in the train split).

Labels (labels/, for link prediction): an entity's label is its two name tokens in every
language, a relation's its relation word in the language. Entity e has none in the k-th
language when e % 8 == k + 1, and the last relation none in the last language, so that some
triples can be verbalised in fewer languages (or one, or none). The dictionary also holds
"▁(", "▁," and "▁)", the separators of a verbalised triple as XLM-R's sentencepiece writes
them, after all the other symbols (the ids of the rest are as before); the labels are drawn
without the generator's random numbers, so the rest of the data is too.

With the default of one fact per entity, a subject description names exactly one object and
the relation adds nothing. With several facts per entity the OE query has to pick the
object of the given relation: in short runs of the tiny test model that did not generalise
to the held-out facts (it memorised the training facts instead), hence the default of one.

    python -m preprocess.synthetic OUT_DIR [--entities 128] [--langs en,de,zh]
"""

import argparse

import numpy as np

from .knowledge_dir_writer import KnowledgeDirWriter

SEPARATOR_PIECES = ("\u2581(", "\u2581,", "\u2581)")


def make_synthetic_data(out_dir, num_entities=128, languages=("en", "de", "zh"),
                        num_relations=8, sentences_per_entity=6, fillers_per_lang=50,
                        facts_per_entity=1, valid_fraction=0.25, seed=0, overwrite=True,
                        max_context_fillers=2, max_description_fillers=2, facts_in_context=True,
                        vocab_size=None):
    """Write the directory and return its path.

    ``vocab_size``: pad dict.txt with unused symbols so that fairseq's dictionary (specials
    and ``<mask>`` included) has this many entries, e.g. 250002 for XLM-R's shapes.

    ``max_context_fillers``: filler words on each side of a sentence (0 to this many, at
    random); ``max_description_fillers``: filler words that end a description (likewise);
    ``facts_in_context``: a sentence also states one of its entity's facts.
    """
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
    facts = np.asarray(facts, dtype=np.int32).reshape(-1, 3)
    own_facts = [facts[facts[:, 0] == e] for e in range(num_entities)]

    def filler(lang, n):
        return [int(x) for x in rng.choice(fillers[lang], size=n)]

    def some_fillers(lang, most):
        return filler(lang, int(rng.integers(most + 1)))

    descriptions = {}
    for e in range(num_entities):
        descriptions[e] = {}
        for lang in languages:
            tokens = list(names[e]) + list(rng.permutation(attrs[e]))
            for _, r, o in own_facts[e]:
                tokens += filler(lang, 1) + [rel_words[lang][r]] + list(names[o])
                tokens += list(rng.permutation(attrs[o]))
            tokens += some_fillers(lang, max_description_fillers)
            descriptions[e][lang] = [int(t) for t in tokens]

    for piece in SEPARATOR_PIECES:
        new_symbol(piece)

    if vocab_size is not None:
        unused = vocab_size - 5 - len(symbols)  # 4 specials first, <mask> last
        if unused < 0:
            raise ValueError(f"vocab_size {vocab_size} is below the {len(symbols) + 5} symbols the data needs")
        symbols += [(f"unused{i}", 1) for i in range(unused)]
    writer = KnowledgeDirWriter(out_dir, languages, symbols, overwrite=overwrite)
    for lang in languages:
        for e in range(num_entities):
            for k in range(sentences_per_entity):
                split = "valid" if rng.random() < valid_fraction else "train"
                context = [int(x) for x in rng.choice(attrs[e], size=2, replace=False)]
                left = some_fillers(lang, max_context_fillers)
                right = some_fillers(lang, max_context_fillers)
                fact = []
                if facts_in_context and len(own_facts[e]):
                    _, r, o = own_facts[e][rng.integers(len(own_facts[e]))]
                    fact = [rel_words[lang][r]] + list(names[o])
                sentence = left + context + list(names[e]) + fact + right
                start = len(left) + len(context)
                writer.add_mep_sentence(lang, split, sentence, [(start, start + 2, e)])
                writer.add_mlm_document(lang, split, [sentence])
            writer.add_mlm_document(lang, "train", [descriptions[e][lang]])

    order = rng.permutation(len(facts))
    n_valid = max(1, int(len(facts) * valid_fraction))
    writer.write_knowledge(
        entities=[(f"Q{1000 + e}", f"entity {e}") for e in range(num_entities)],
        relations=[(f"P{100 + r}", f"relation {r}") for r in range(num_relations)],
        descriptions=descriptions,
        triples_by_split={"train": facts[order[n_valid:]], "valid": facts[order[:n_valid]]},
    )
    for k, lang in enumerate(languages):
        writer.add_labels("entities", lang, ([] if e % 8 == k + 1 else names[e] for e in range(num_entities)))
        last = k == len(languages) - 1 and len(languages) > 1
        writer.add_labels("relations", lang, ([] if last and r == num_relations - 1 else [rel_words[lang][r]]
                                              for r in range(num_relations)))
    return writer.finalize(source="synthetic (preprocess/synthetic.py)", seed=seed)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--entities", type=int, default=128)
    parser.add_argument("--langs", default="en,de,zh")
    parser.add_argument("--relations", type=int, default=8)
    parser.add_argument("--sentences-per-entity", type=int, default=6)
    parser.add_argument("--facts-per-entity", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vocab-size", type=int, help="pad the dictionary to this many entries (XLM-R: 250002)")
    args = parser.parse_args(argv)
    out = make_synthetic_data(
        args.out_dir, num_entities=args.entities, languages=args.langs.split(","),
        num_relations=args.relations, sentences_per_entity=args.sentences_per_entity,
        facts_per_entity=args.facts_per_entity, seed=args.seed, vocab_size=args.vocab_size,
    )
    print(out)


if __name__ == "__main__":
    main()
