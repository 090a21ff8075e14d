"""note-rag assistant: cited, checked answers over the indexed documents.

    >>> from assistant import Assistant
    >>> a = Assistant()
    >>> ans = a.ask("Quel pourcentage des collectivités a déjà été victime d'une cyberattaque ?")
    >>> print(ans.text)
    >>> for c in ans.citations: print(c.n, c.doc_id, c.page, c.section)
"""

from .models import Answer, Citation, Restart
from .service import Assistant

__all__ = ["Assistant", "Answer", "Citation", "Restart"]
