"""``tayori dashboard``: the operator's web page (queue depth over time, dead letters,
broadcasts). Needs the ``dashboard`` extra: ``pip install 'tayori[dashboard]'``."""
