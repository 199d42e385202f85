import sys, time, random, json
from pathlib import Path
from imhi.evaluation.references import read_reference_csv
from imhi.tasks import load_tasks
from imhi.judges.rules import conclusion
from imhi.judges.verdict import contradicts
D=Path('/work/shared/data/imhi')
FILES={"DR":["dr"],"dreaddit":["dreaddit"],"SAD":["sad"],"Irf":["irf_tb","irf_pb"],"MultiWD":[f"multiwd_{d}" for d in ("spiritual","physical","intellectual","social","vocational","emotional")]}
paths=[]
for k in ('train',):
    for n in ('DR','dreaddit','SAD'):
        for s in ('train','val'): paths.append((n, D/'train'/n/f'{s}.csv'))
for k in ('test','complete','expert'):
    for n in FILES: paths.append((n, D/k/f'{n}.csv'))
flag=[]; unflag=[]; tot=0; nv=0
for n,p in paths:
    tasks=load_tasks(FILES[n]); rows=read_reference_csv(p,tasks)
    f=0; v=0
    for i,r in enumerate(rows,1):
        t=tasks[r['task']]; vd=conclusion(t, r['explanation'])
        v+= vd is not None
        if contradicts(t, vd, r['label']):
            f+=1; flag.append((str(p.relative_to(D)), i, r['task'], r['label'], vd.label, vd.reason, r['explanation']))
        else: unflag.append((str(p.relative_to(D)), i, r['task'], r['label'], vd.label if vd else None, r['explanation']))
    tot+=len(rows); nv+=v
    print(f"{str(p.relative_to(D)):28s} rows {len(rows):5d} verdict {v/len(rows):6.1%} flagged {f:4d} ({f/len(rows):.2%})")
print('total', tot, 'verdicts', nv, 'flagged', len(flag))
json.dump({'flag':flag,'unflag':unflag}, open('/tmp/audit/out.json','w'))
