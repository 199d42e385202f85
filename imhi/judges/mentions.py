"""Which labels a piece of text names, asserted or denied: the one reader of label mentions.

Reads and writes nothing. Used by the ``alias`` extraction step (the label sentence of an
answer) and by the ``rules`` judge (the conclusion of an explanation), so a model's answer
and an explanation are read by the same code.

A phrase is a label's name, alias, answer sentence (also without its leading "Yes,"/"No,")
or ``cue`` (task.yaml: wording an explanation uses for the label, e.g. "thwarted
belongingness"); a phrase inside a longer matched phrase does not count ("depression" in "no
depression"). Text is read clause by clause: cut at semicolons, colons, dashes, brackets and
contrast words ("but", "however", "which", "rather than" …); an aside in brackets and a
concessive opening ("although …,", "while …,") are left out. Each mention is *asserted*,
*denied* or *unsure* (unsure counts for nothing):

- denied by a negator earlier in its clause ("there is no indication that the poster is
  suffering from stress"), up to where its scope ends ("if", "because", "so", "and they …") and
  unless a verb of evidence follows the negator ("not enjoying life suggests depression" denies
  nothing); by a weak negator naming a topic just before it ("a lack of focus on the intellectual
  aspect", "without any indication of", "low levels of"); by a clause that opens with "rather than" /
  "instead of"; or by a negated verb after it ("depression is not evident", "the social
  dimension does not exist"). In a two-label task a denied label asserts the other one;
- unsure after a modal or hedge ("this can contribute to burdensomeness", "the possibility of
  depression", "managing their stress"), under two negations ("not typical for people without
  depression"), after a weak negator naming no topic ("a lack of fulfillment in the intellectual
  aspect": in a wellness-dimension task that is the dimension discussed), in a "which …" clause
  after a negated clause, or a "rather than …" clause after a hedged one;
- a conditional clause asserts nothing ("whether …", "in which case …"), and a clause that says
  the text cannot decide ("not enough information to determine …", "does not necessarily …")
  keeps only its statements;
- a *statement* names a label outright ("the appropriate label for this post is work", "this
  falls under the category of school", "health issues would be the most appropriate label"):
  when a text states a label, the statement decides (``Mentions.stated``). Bare names that are
  common words ("yes", "no", "none", "other") count only in a statement.

Chinese text (tasks with ``language: zh``) is matched without word boundaries and cut at Chinese
punctuation and contrast words (但是, 然而 …); a concessive clause (虽然 …) and one that cannot
decide (无法判断 …) are skipped. A mention is denied by a negator earlier in its clause (不是,
没有, 并非, 不存在 …, unless a verb of evidence follows it: 没有朋友说明 …) or just after it
(不明显), and unsure after a hedge (可能, 或许, 不能排除).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from imhi.tasks import TaskSpec, normalize

GENERIC = frozenset({"yes", "no", "none", "other", "n a", "na"})
NONE_LABEL = ""  # a multi-label task's "no label applies" (its none_answer), in Mentions.present
State = Literal["asserted", "denied", "unsure"]


def _words(text: str) -> frozenset[str]:
    """The set of the space-separated words of ``text``."""
    return frozenset(text.split())


_NOT = re.compile(r"n['’]t\b")
_NON_WORD = re.compile(r"\W+")
_LEADING_YES_NO = re.compile(r"^(yes|no)\s*[,.]\s*", re.I)

# English clauses (text lowercased first)
_ASIDE = re.compile(r"\s*\([^()\n]{1,80}\)")
_SHORT_QUOTE = re.compile(r"[\"“]([^\"“”\n]{1,40})[\"”]")  # a quoted label ("Other causes") is no clause
_EN_CLAUSE = re.compile(r"[;:()\n\"“”]|\s[-–—]\s|\b(?=but\b|however\b|although\b|though\b|while\b|whereas\b|yet\b|"
                        r"albeit\b|(?<!in )which\b|rather than\b|instead of\b|as opposed to\b|except\b|even if\b)")
_EN_CLAUSE_WORDS = ("but", "however", "though", "while", "whereas", "yet", "albeit", "which", "rather than",
                     "instead of", "as opposed to", "except", "even if", ";", ":", "(", ")", "\n", '"', "“", "”",
                     " - ", " – ", " — ")  # where _EN_CLAUSE may cut
_EN_CONCESSIVE = re.compile(r"^\W*(?:although|though|even though|albeit|while|whereas|despite|even if|if|unless|"
                            r"unlike|in contrast to|contrary to|apart from|aside from|besides|other than)\b[^,]*,?")
_EN_COND = re.compile(r"\bwhether\b|\bor not\b|\bmay or may not\b|\bif (?:the|this|it|they|he|she|so)\b|"
                      r"\bin which case\b|\bhypothetical|\bexamples?\b")
_EN_COND_WORDS = ("whether", "or not", "may or may", "if ", "in which case", "hypothetic", "example")
_EN_CANNOT_TELL_WORDS = ("unclear", "uncertain", "possible", "not clear", "difficult", "hard", "challenging",
                         "cannot be", "enough", "insufficient", "limited", "information", "context", "evidence",
                         "detail", "necessarily", "definitiv", "conclusiv", "accurately", "confidently")
_EN_CANNOT_TELL = re.compile(
    r"\b(?:unclear|uncertain|not (?:possible|clear)|impossible|difficult|hard|challenging) to\b|"
    r"\bcannot be (?:determined|concluded)\b|\bnot enough\b|\binsufficient\b|\blimited (?:information|context|"
    r"details?)\b|\b(?:enough|sufficient|more|further|additional) (?:information|context|evidence|details?)\b|"
    r"\bnot (?:necessarily|definitive|definitively|conclusive|conclusively)\b|\b(?:to|can|cannot) (?:definitively|"
    r"conclusively|accurately|confidently) (?:determine|say|assign|label|conclude|classify)\b")

# English negation
_EN_NEG = _words("not no never nor neither cannot nothing none unlikely nowhere inappropriate unlike contrasts "
                 "contrary differs inconsistent separate unrelated distinct irrelevant")
_EN_EVIDENCE = _words("suggests suggest suggesting indicates indicate indicating implies imply implying aligns align "
                      "aligning reflects reflect reflecting points pointing demonstrates demonstrating highlights "
                      "highlighting reveals revealing conveys conveying contributes contribute contributing "
                      "supports supporting emphasizes emphasizing consistent shows showing signals signifies "
                      "further indicative symptomatic characteristic increasing increases increase leading leads "
                      "causing causes resulting results making makes")
_EN_FINITE = frozenset(w for w in _EN_EVIDENCE if not w.endswith("ing")) - _words(
    "consistent further indicative symptomatic characteristic")  # "… suggests", "… indicate"
_EN_RELATIVE = _words("that which who")  # "nothing that suggests depression" is still denied
_EN_OPEN_NEG = re.compile(r"^(?:rather than|instead of|as opposed to|not)\b")  # the whole clause is denied
_EN_SCOPE_END = re.compile(r"^.*\b(?:if|when|unless|because|since|so|therefore|thus|hence|and (?:also )?(?:this|these|"
                           r"that|it|they|he|she|the poster|the post|there|shows?|exhibits?|displays?|expresses|"
                           r"demonstrates?|reveals?|indicates?|suggests?|seems?|appears?|feels?|is|are))\b")
_EN_PSEUDO = re.compile(r"\b(?:not only|no doubt|nothing but|not just|no longer|no one|nobody|no matter|break free|"
                        r"in contrast|by contrast|on the contrary|not (?:negate|rule out|exclude|diminish|eliminate|"
                        r"preclude|discount|alleviate|relieve|reduce|ease|lessen|lift|resolve)|not (?:being )?able|"
                        r"not (?:sure|knowing|wanting|getting)|no (?:control|way|hope|friends?|energy|motivation|"
                        r"interest|support|purpose|reason to))\b")  # negators that deny no label
_EN_LACK = re.compile(r"^(?:.* )?(?:lack(?:s|ing)?|absence|absent|without|free)(?: (?:of|from|in|any))* (.*)$")
_EN_LOW = re.compile(r"^(?:.* )?(?:(?:low|lower|little|minimal|limited|reduced)(?: \w+)? (?:levels?|signs?|"
                     r"indications?|evidence|amount|degree|risk|sense|likelihood) of|(?:decrease|decreases|decreased|"
                     r"reduction|reduces|reduce|reducing|lowers|lowering|decline|mitigates|mitigating)(?: in)?"
                     r"(?: the| their| a| any)?(?: (?:risk|levels?|likelihood|degree|chance)(?: of| for)?)?) (.*)$")
_EN_TOPIC = _words("mention mentions discussion reference references indication indications sign signs evidence "
                   "expression expressions symptoms any")  # what a weak negator denies for sure
_EN_VERB = _words("is are was were be been has have had and suggests suggest suggesting indicates indicate "
                  "indicating shows show showing reflects reflect reflecting implies imply points means leads lead "
                  "leading causes cause causing contributes contribute contributing can could may might would will "
                  "feels feel feeling makes make making to")  # a weak negator does not reach past these
_EN_NEGATIVE = _EN_NEG | _words("lack lacks lacking absence absent without free low")  # "no depression" is a label
_EN_ADJ = (r"(?:\w+ly )?(?:present|evident|apparent|indicated|mentioned|shown|expressed|displayed|exhibited|clear|"
           r"relevant|applicable|addressed|discussed|explored|reflected|prominent|significant|severe|strong|detected|"
           r"stated|implied|described|depicted|conveyed|articulated|suggested|observed|noticeable|obvious|supported|"
           r"appropriate|accurate|suitable|identified|found|involved|at play|the (?:main|primary|central|key|focus|"
           r"case|cause|source|issue)|an? (?:\w+ )?(?:factor|concern|issue|theme|focus|cause|label|category))\b")
_EN_BE = r"(?:is|are|was|were|seems?|appears?|remains?)(?: to be)?"
_EN_AFTER_NEG = re.compile(
    r"^(?:(?!because |as |since |when |if |but )\w+ ){0,6}?(?:" + _EN_BE + r" (?:absent|unlikely|lacking|"
    r"missing|minimal)\b|" + _EN_BE + r" not " + _EN_ADJ + r"|(?:(?:may|might|could|would|does|do|did) not "
    r"(?:be|seem to be|appear to be)|cannot be) " + _EN_ADJ + r"|(?:does|do|did) not (?:\w+ly )?(?:exist|apply|fit|"
    r"match|meet|reach|qualify|warrant|align|rise|play|come|feature)\b)")

# English hedges: anywhere before a mention, or just before it ("managing their stress")
_EN_HEDGE = _words("can could may might would possibly potentially potential possible possibility perhaps maybe "
                   "suggestive")
_EN_NEAR_HEDGE = _words("manage manages managed managing cope coping handle handling overcome overcoming overcame "
                        "reduce reducing relieve relieving alleviate alleviating address addresses addressing "
                        "prevent preventing avoid avoiding escape escaping combat ease easing recover recovering "
                        "recovered mention mentions mentioned mentioning assess assessing evaluate evaluating "
                        "considering determining determine")
_EN_AFTER_HEDGE = re.compile(r"^(?:\w+ ){0,6}?(?:manageable|under control|mild|not (?:severe|significant|"
                             r"overwhelming|serious))\b|^(?:\w+ ){0,2}?(?:is|are|was|were|would be|could be|"
                             r"can be|may be|might be) also\b")

# English statements: the words before a label ("the appropriate label for this post is", "falls
# under the category of") or after it ("… would be the most appropriate label")
_EN_STATE_BEFORE = re.compile(
    r"(?:\b(?:label|answer|classification|category|choice)(?: (?:for|of|in|to) (?:this|the) (?:post|statement|case|"
    r"text|question))?(?: (?:would|should|could|will|must|might|may|can|seems to|appears to))? (?:be|is|of|as)|"
    r"\b(?:labell?ed|labell?ing|classified|classifying|categori[sz]ed|categori[sz]ing|assigned|assign|assigning|"
    r"falls?|falling|fits?)(?: (?:it|this|the post|this post))?(?: (?:as|under|into|within|with))?|"
    r"\b(?:label|category|classification))(?: (?:the|a|an))?(?: (?:label|category)(?: of)?)? $")
_EN_STATE_WORDS = ("label", "answer", "classif", "categor", "choice", "assign", "fall", "fit")
_EN_STATE_AFTER = re.compile(
    r"^(?:(?:is|are|was|would be|should be|could be|will be|seems to be|seem to be|appears to be) )?(?:the |a |an )?"
    r"(?:most |more |best |only )?(?:appropriate|relevant|suitable|fitting|accurate|applicable|correct|apt|"
    r"reasonable|best fitting)\b(?! to\b)")
_EN_MAY_STATE = re.compile(r"label|categor|classif|appropriate|relevant|suitable|fitting|accurate|applicable|correct|"
                           r"apt\b|reasonable|assign|fall|fits?\b|answer|choice")

# Chinese
_ZH_CLAUSE = re.compile(r"[，,；;：:（）()\n“”]|(?=但是|但|然而|不过|虽然|尽管|而不是|而非)")
_ZH_SKIP = re.compile(r"^(?:虽然|尽管|如果|假如|即使)|无法(?:确定|判断)|不能确定|难以(?:判断|确定)|不确定|不清楚|"
                      r"信息(?:不足|有限)")
_ZH_NEG = ("不是", "不属于", "不存在", "不具有", "不具备", "不构成", "不涉及", "不符合", "没有", "并非", "并无",
           "并未", "未见", "未表现", "未发现", "无明显", "不算", "排除", "不太", "不能算", "谈不上", "而非", "不像")
_ZH_EVIDENCE = ("表明", "说明", "显示", "反映", "体现", "意味着", "可见", "导致", "加重", "增加")
_ZH_HEDGE = ("可能", "或许", "也许", "似乎", "疑似", "不能排除", "无法排除", "不排除", "是否")
_ZH_AFTER_NEG = re.compile(r"^(?:的(?:迹象|表现|倾向|特征))?(?:并)?(?:不明显|不存在|不成立|不大|较低|不高)")
_ZH_OPEN_NEG = re.compile(r"^(?:而不是|而非|不是)")


@dataclass(frozen=True)
class Mentions:
    """Labels a text asserts and denies; ``stated`` when it names a label outright."""

    present: frozenset[str] = frozenset()
    absent: frozenset[str] = frozenset()
    stated: bool = False


@dataclass(frozen=True)
class Mention:
    """One mention of a label: how it reads, and whether it is a statement of the label."""

    name: str
    state: State
    stated: bool = False


@dataclass(frozen=True)
class _Table:
    pattern: re.Pattern[str]
    label: dict[str, str]
    negative: frozenset[str]  # phrases that carry their own negation ("no depression")
    other: dict[str, str]  # in a two-label task: each label's counterpart


def flat(text: str) -> str:
    """Normalised text with punctuation as spaces and "n't" as " not" (what phrases are matched
    against)."""
    text = text.lower() if text.isascii() else unicodedata.normalize("NFKC", text).lower()
    return _NON_WORD.sub(" ", _NOT.sub(" not", text)).strip()  # the same as tasks.normalize, and more


def phrases(task: TaskSpec) -> dict[str, str]:
    """Flat phrase → label: names, aliases, answer sentences (and their bodies), cues."""
    pairs = dict(task.alias_table)
    for lab in task.labels:
        if lab.answer:
            pairs.setdefault(normalize(_LEADING_YES_NO.sub("", lab.answer)), lab.name)
        for cue in lab.cues:
            pairs.setdefault(normalize(cue), lab.name)
    if task.multi_label and task.none_answer:
        pairs[normalize(task.none_answer)] = NONE_LABEL
        pairs.update({normalize(c): NONE_LABEL for c in task.none_cues})
    return {flat(a): n for a, n in pairs.items() if flat(a)}


_TABLES: dict[int, tuple[TaskSpec, _Table]] = {}


def _zh(task: TaskSpec) -> bool:
    """Whether the task's text is Chinese."""
    return task.language == "zh"


def _table(task: TaskSpec) -> _Table:
    """The task's compiled phrase table (built once per task object)."""
    hit = _TABLES.get(id(task))
    if hit is None or hit[0] is not task:
        hit = _TABLES[id(task)] = (task, _build(task))
    return hit[1]


def _build(task: TaskSpec) -> _Table:
    """The phrase pattern (longest first), phrase → label, negative phrases, counterparts."""
    table = phrases(task)
    alts = "|".join(re.escape(p) for p in sorted(table, key=len, reverse=True))
    zh = _zh(task)
    pattern = re.compile(f"(?:{alts})" if zh else rf"(?<!\w)(?:{alts})(?!\w)")
    negative = frozenset(p for p in table if (any(n in p for n in _ZH_NEG) if zh else _EN_NEGATIVE & set(p.split())))
    names = task.label_names
    other = {names[0]: names[1], names[1]: names[0]} if len(names) == 2 and not task.multi_label else {}
    return _Table(pattern, table, negative, other)


def clauses(task: TaskSpec, text: str) -> list[str]:
    """``text`` cut into clauses (the scope of a negation); English text is lowercased, asides in
    brackets and concessive openings ("although …,", "while …,") are left out: they are not
    what is asserted."""
    if _zh(task):
        return [c for c in _ZH_CLAUSE.split(text) if c and c.strip()]
    text = text.lower()
    if "(" in text or '"' in text or "“" in text:
        text = _ASIDE.sub(" ", _SHORT_QUOTE.sub(r"\1", text))
    parts = _EN_CLAUSE.split(text) if _maybe(text, _EN_CLAUSE_WORDS) else [text]
    out = [_EN_CONCESSIVE.sub("", c.strip()) for c in parts if c and c.strip()]
    return [c for c in out if c.strip()]


def mentions(task: TaskSpec, text: str) -> list[Mention]:
    """Every label mention in ``text``, clause by clause, with how it reads (module docstring)."""
    t, zh = _table(task), _zh(task)
    found: list[Mention] = []
    previous = ""
    for clause in clauses(task, text):
        key = flat(clause)
        if zh:
            found += [] if _ZH_SKIP.search(key) else _zh_mentions(t, key)
            continue
        if _maybe(key, _EN_COND_WORDS) and _EN_COND.search(key):
            continue
        hits = _en_mentions(t, key, previous)
        undecided = _maybe(key, _EN_CANNOT_TELL_WORDS) and _EN_CANNOT_TELL.search(key) is not None
        found += [h for h in hits if h.stated and h.state == "asserted"] if undecided else hits
        previous = key
    return found


def read(task: TaskSpec, text: str) -> Mentions:
    """The labels ``text`` asserts and denies; a label stated outright decides alone."""
    found = mentions(task, text)
    said = [m for m in found if m.stated and m.state == "asserted"]
    if said:
        found = said
    present = {m.name for m in found if m.state == "asserted"}
    absent = {m.name for m in found if m.state == "denied"}
    other = _table(task).other
    present |= {other[n] for n in absent if n in other}
    return Mentions(frozenset(present), frozenset(absent - present), bool(said))


def _maybe(text: str, words: tuple[str, ...]) -> bool:
    """Whether ``text`` holds one of ``words`` (a fast test before a slower regex)."""
    return any(map(text.__contains__, words))


def may_state(task: TaskSpec, text: str) -> bool:
    """A cheap test: could ``text`` state a label outright (see :func:`read`)?"""
    return not _zh(task) and _EN_MAY_STATE.search(text.lower()) is not None


def may_name(task: TaskSpec, text: str) -> bool:
    """A cheap test: could ``text`` name a label at all?"""
    return _table(task).pattern.search(flat(text)) is not None


def _en_mentions(t: _Table, key: str, previous: str) -> list[Mention]:
    """The mentions of one English clause. A clause takes its sense from the one before: "which …"
    after a negated clause asserts nothing of its own, "rather than …" after a hedged one denies
    nothing for sure."""
    opened = "not " if _EN_OPEN_NEG.match(key) else ""
    words = previous.split()
    relative = key.startswith("which") and bool(_EN_NEG.intersection(words))
    contrast = bool(opened) and bool(_EN_HEDGE.intersection(words))
    found = []
    for m in t.pattern.finditer(key):
        phrase, before, after = m.group(0), opened + key[:m.start()], key[m.end():].lstrip()
        head = _en_statement(before, after)
        if phrase in GENERIC and head is None:
            continue
        state: State = "asserted" if phrase in t.negative else (
            _en_state(before, after) if head is None else _en_stated(head, after))
        if (relative and state == "asserted") or (contrast and state == "denied"):
            state = "unsure"
        found.append(Mention(t.label[phrase], state, head is not None))
    return found


def _en_state(before: str, after: str) -> State:
    """How an English mention reads, from the words of its clause before and after it."""
    if _EN_AFTER_NEG.match(after):
        return "denied"
    text = _scope(_EN_PSEUDO.sub(" ", before))
    words = text.split()
    weak, gap = _weak(text)
    strong = _strong(words)
    if strong == "denied":  # two negations cancel out into unsure
        return "unsure" if weak == "denied" or gap <= 2 else "denied"
    hedged = _EN_HEDGE.intersection(words) or _EN_NEAR_HEDGE.intersection(words[-4:])
    if weak == "denied" and not hedged:  # "could reduce the risk of …" denies nothing
        return "denied"
    return "unsure" if weak or strong or hedged or _EN_AFTER_HEDGE.match(after) else "asserted"


def _scope(before: str) -> str:
    """The words of a clause before a mention that a negation there could still reach."""
    m = _EN_SCOPE_END.match(before)
    return before[m.end():] if m else before


def _weak(text: str) -> tuple[State | None, int]:
    """Denied when a weak negator just before names a topic ("lack of focus on the"), unsure when
    it names something else or is far; None without one. With the number of words between."""
    m = _EN_LOW.match(text) or _EN_LACK.match(text)
    if m is None:
        return None, 99
    gap = m.group(1).split()
    if any(w in _EN_FINITE and v not in _EN_RELATIVE for v, w in zip(gap, gap[1:], strict=False)):
        return None, 99  # "a lack of support indicates …": the negator sits in the evidence
    topic = m.re is _EN_LOW or bool(_EN_TOPIC.intersection(gap[:2]))
    return ("denied" if topic and len(gap) <= 6 and not _EN_VERB.intersection(gap) else "unsure"), len(gap)


def _strong(words: list[str]) -> State | None:
    """Denied after the last negator, unless a verb of evidence follows it (past the negated verb
    itself: "does not indicate", "no evidence suggesting"); None without a negator."""
    for i in range(len(words) - 1, -1, -1):
        if words[i] in _EN_NEG:
            for j in range(i + 2, len(words)):
                finite = j > i + 2 or words[j].endswith("s")
                if words[j] in _EN_EVIDENCE and finite and words[j - 1] not in _EN_RELATIVE:
                    return "unsure"
            return "denied"
    return None


def _en_statement(before: str, after: str) -> str | None:
    """For a label stated outright, the words before the statement (where a hedge or a negation
    would sit); None for any other mention."""
    start = max(0, len(before) - 90)
    m = _EN_STATE_BEFORE.search(before, start) if _maybe(before[start:], _EN_STATE_WORDS) else None
    if m is not None:
        return before[:m.start()]
    return before if _EN_STATE_AFTER.match(after) and not before.endswith("for ") else None


def _en_stated(head: str, after: str) -> State:
    """How a statement reads: only a negation or hedge just before it ("we cannot assign the
    label of", "it could fall under the category of") or after it counts."""
    words = _scope(head).split()[-5:]
    if _EN_NEG.intersection(words) or _EN_AFTER_NEG.match(after):
        return "denied"
    if _EN_HEDGE.intersection(words[-4:]) or _EN_AFTER_HEDGE.match(after):
        return "unsure"
    return "asserted"


def _zh_mentions(t: _Table, key: str) -> list[Mention]:
    """The mentions of one Chinese clause."""
    opened = _ZH_OPEN_NEG.match(key) is not None
    found = []
    for m in t.pattern.finditer(key):
        phrase = m.group(0)
        state: State = "asserted" if phrase in t.negative else _zh_state(opened, key[:m.start()], key[m.end():])
        found.append(Mention(t.label[phrase], state))
    return found


def _zh_state(opened: bool, before: str, after: str) -> State:
    """How a Chinese mention reads, from its clause before and after it."""
    if opened or _ZH_AFTER_NEG.match(after.lstrip()):
        return "denied"
    if any(h in before for h in _ZH_HEDGE):
        return "unsure"
    last = max((before.rfind(n) + len(n) for n in _ZH_NEG if n in before), default=-1)
    if last < 0:
        return "asserted"
    return "unsure" if any(e in before[last:] for e in _ZH_EVIDENCE) else "denied"
