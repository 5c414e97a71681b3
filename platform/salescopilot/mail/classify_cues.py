"""The words and headers that mark an automatic reply or an unsubscribe request, in English, German,
French, Spanish, Portuguese, Dutch and Swedish.

Body cues are only ever looked for in what the sender wrote (`classify_parse.new_text`), so a
person quoting someone's out-of-office text, or a signature with an "unsubscribe" link, does not
trip them.
"""

from __future__ import annotations

import re
from salescopilot.mail.classify_parse import Inbound
from salescopilot.mail.phrases import Phrases

#: Headers that say "this is an automatic answer" (RFC 3834 and the vendors' own).
_AUTOREPLY_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply",
                      "X-Vacation", "X-Autoreply-From")
_NEGATIVE = frozenset({"", "no", "false", "0", "off", "none"})

AUTO_REPLY_SUBJECT = re.compile(
    r"""(?ix)^\s*(?:\[[^\]]{0,40}\]\s*)?(?:
      out\ of\ (?:the\ )?office|automatic\ reply|auto(?:matic)?[-\ ]?(?:reply|response|answer)
    | autoreply|autoresponse|away\ from\ (?:the\ |my\ )?office|on\ (?:vacation|holiday|leave)
    | ooo\b|annual\ leave|out\ of\ office\ reply|i\ am\ away|away:
    | abwesenheit(?:snotiz|smeldung|snachricht)?|automatische\ antwort|nicht\ im\ büro
    | abwesend|urlaub|außer\ haus
    | réponse\ automatique|absence|absente?\b|message\ d'absence|(?:en\ )?congés?\b
    | respuesta\ automática|fuera\ de\ (?:la\ )?oficina|ausente|ausencia|de\ vacaciones
    | resposta\ automática|ausência|fora\ do\ escritório|de\ férias
    | automatisch\ antwoord|afwezig(?:heid)?|niet\ aanwezig|buiten\ kantoor|vakantie
    | automatiskt\ svar|autosvar|frånvaro(?:meddelande)?|frånvarande|(?:ej|inte)\ på\ kontoret
    | semester|ledig\b
    )"""
)

AUTO_REPLY_BODY = Phrases(
    r"""(?x)
      (?:i\ am|i'm|i\ will\ be|i'll\ be|i\ shall\ be)\ (?:currently\ |now\ )?(?:out\ of\ (?:the\ )?
        office|away\ from\ (?:the|my)\ (?:office|desk)|on\ (?:annual\ |parental\ |maternity\ |
        paternity\ |sick\ |medical\ |business\ )?(?:leave|vacation|holiday|holidays
        |a\ business\ trip)
        |out\ of\ the\ country|off\ work)
    | this\ is\ an\ auto(?:matic|mated|matically\ generated)?[-\ ]?(?:reply|response|message)
    | limited\ access\ to\ (?:my\ )?e-?mail
    | i\ will\ (?:respond|reply|get\ back\ to\ you)\ .{0,40}\b(?:when|upon|after)\ (?:i\ |my\ )
        (?:return|am\ back|get\ back)
    | ich\ bin\ (?:derzeit\ |zurzeit\ |aktuell\ |momentan\ |leider\ )?.{0,60}?(?:nicht\ im\ büro|
        abwesend|im\ urlaub|außer\ haus|nicht\ erreichbar|auf\ geschäftsreise|in\ elternzeit)
    | (?:dies\ ist\ eine\ )?automatische\ antwort | ihre\ (?:e-?mail|nachricht)\ wird\ nicht\
        weitergeleitet | in\ dringenden\ fällen\ wenden\ sie\ sich
    | je\ suis\ (?:actuellement\ )?.{0,40}?(?:absente?|en\ congés?|en\ vacances|en\ déplacement
        |hors\ du\ bureau|en\ arrêt) | je\ serai\ (?:absente?|de\ retour) | réponse\ automatique
    | accès\ limité\ à\ (?:mes|ma)\ | je\ n'aurai\ pas\ accès
    | (?:estoy|me\ encuentro|estaré)\ (?:actualmente\ )?(?:fuera\ de\ la\ oficina|de\ vacaciones|
        ausente|fuera|de\ viaje) | respuesta\ automática | no\ tendré\ acceso | volveré\ (?:el|a)
    | (?:estou|estarei|encontro-me|me\ encontro)\ (?:atualmente\ |actualmente\ )?(?:fora\ do\
        escritório|de\ férias|ausente|em\ férias|de\ licença|fora) | resposta\ automática
    | não\ terei\ acesso | retornarei\b | regressarei\b
    | ik\ ben\ (?:momenteel\ |tot\ .{0,40}?)?(?:afwezig|met\ vakantie|op\ vakantie
        |niet\ (?:aanwezig|
        op\ kantoor|bereikbaar)|buiten\ kantoor) | automatisch\ antwoord
    | ik\ ben\ weer\ (?:aanwezig|op\ kantoor|terug) | beperkt\ toegang\ tot
    | jag\ är\ (?:för\ närvarande\ |just\ nu\ )?(?:ledig|på\ semester|inte\ på\ kontoret|
        frånvarande|borta|tjänstledig|föräldraledig|på\ tjänsteresa|sjukskriven)
    | automatiskt\ svar | begränsad\ tillgång\ till | jag\ är\ tillbaka | åter\ i\ tjänst
    """
)

#: Words a person also writes in an answer ("I'm travelling this week, but yes"): they mark an
#: automatic reply only together with a return date, and not in a text that asks a question.
AWAY_BODY = Phrases(
    r"""(?x)
      (?:i\ am|i'm|i\ will\ be|i'll\ be)\ (?:currently\ |now\ )?(?:travel(?:l)?ing|away|unavailable)
    | ich\ bin\ (?:derzeit\ |zurzeit\ )?unterwegs | je\ suis\ en\ voyage
    | (?:estoy|estaré)\ de\ viaje | (?:estou|estarei)\ (?:em\ viagem|viajando)
    | ik\ ben\ (?:op\ reis|onderweg) | jag\ är\ (?:på\ resa|bortrest)
    """
)

#: A subject that is nothing but the request (a reply prefix allowed): "Unsubscribe", "Re: STOP".
UNSUBSCRIBE_SUBJECT = re.compile(
    r"(?i)^\s*(?:(?:re|aw|sv|antw|r|rv|res|ref)\s*:\s*)*(?:unsubscribe|remove me|opt[- ]out|stop|"
    r"abmelden|austragen|désabonnement|désinscription|désabonner|baja|darme de baja|descadastrar|"
    r"uitschrijven|afmelden|avregistrera|avsluta prenumeration)(?:\s+(?:me|please|bitte|svp|"
    r"por favor|alstublieft|tack))?\s*[.!]*\s*$"
)

UNSUBSCRIBE_BODY = Phrases(
    r"""(?x)
      unsubscribe\ me\b | please\ unsubscribe\b | unsubscribe\ (?:this|my)\ (?:e-?mail|address)
    | (?:i\ (?:want|would\ like|wish|need)\ to|i'd\ like\ to|please\ let\ me)\ (?:unsubscribe|
        opt[-\ ]out|be\ removed)
    | remove\ (?:me|my\ (?:e-?mail|address|details|contact\ details))\b
    | take\ me\ off\b | opt\ me\ out\b
    | (?:stop|quit)\ (?:e-?mailing|sending\ (?:me\ )?(?:e-?mails|these|messages)|contacting
        |messaging|
        writing\ to)\ ?(?:me)?\b
    | (?:don't|do\ not|never)\ (?:e-?mail|contact|message|write\ to)\ me\b
    | melden\ sie\ mich\ (?:bitte\ )?ab\b | tragen\ sie\ mich\ (?:bitte\ )?aus\b
    | entfernen\ sie\ mich\b | (?:bitte\ )?abmelden\b | keine\ (?:weiteren\ )?(?:e-?mails|mails|
        nachrichten)\ mehr\b | schreiben\ sie\ mir\ nicht\ mehr\b
    | kontaktieren\ sie\ mich\ nicht\ mehr\b | nehmen\ sie\ mich\ .{0,40}?(?:verteiler|liste)
    | désabonnez-moi\b | désinscrivez-moi\b | (?:je\ souhaite|je\ veux|merci\ de)\ (?:me\ )?
        (?:désabonner|désinscrire) | retirez-moi\b | supprimez-moi\b
    | ne\ m'(?:envoyez|écrivez|contactez)\ plus\b | je\ ne\ (?:souhaite|veux)\ plus\ recevoir
    | (?:dar|den|dé)(?:me|nme)?\ de\ baja\b
    | (?:elimíneme|elimínenme|elimíname|bórreme|quítenme|quíteme)\b
    | no\ me\ (?:envíen|envíes|escriban|contacten)\ más\b | no\ quiero\ recibir\ más
    | descadastr\w* | cancelar\ (?:a\ )?(?:minha\ )?inscrição
    | (?:remova-me|removam-me|retire-me|retirem-me)\b | tirem-me\ da\ lista
    | não\ (?:me\ )?(?:envie|enviem|mande|mandem)\ mais\b | não\ quero\ receber\ mais
    | parem\ de\ me\ enviar
    | (?:uitschrijven|schrijf\ (?:mij|me)\ uit|afmelden|meld\ (?:mij|me)\ af)\b
    | verwijder\ (?:mij|me)\b | haal\ (?:mij|me)\ (?:van|uit)\ (?:de|uw|jullie|je)\b
    | stuur\ (?:mij|me)\ geen\ .{0,20}?meer\b
    | avregistrera\b | avsluta\ (?:min\ )?prenumeration | avprenumerera\b
    | ta\ bort\ mig\b | sluta\ (?:skicka|maila|mejla)\b | skicka\ inga\ fler\b
    """
)
#: A line that is nothing but the request: "STOP", "Unsubscribe."
_BARE_REQUEST = re.compile(r"(?m)^[ \t]*(?:unsubscribe|stop|remove)[ \t]*[.!]*[ \t]*$")
_REQUEST_CHARS = 4000
_LINK = re.compile(r"(?i)https?://|www\.|\bclick\b|\bklicken\b|\bcliquez\b|\bhaga clic|\bclique")


def auto_reply_header(inbound: Inbound) -> bool:
    """RFC 3834 `Auto-Submitted: auto-replied`, or a vendor's auto-reply header. An
    `auto-generated` message that threads under another (In-Reply-To/References) answers it
    automatically too: Exchange marks its out-of-office answers that way, in any language."""
    submitted = inbound.header("Auto-Submitted").lower()
    if submitted.startswith("auto-replied"):
        return True
    if submitted.startswith("auto-generated") and (
        inbound.has("In-Reply-To") or inbound.has("References")
    ):
        return True
    for name in _AUTOREPLY_HEADERS:
        if inbound.has(name) and inbound.header(name).lower() not in _NEGATIVE:
            return True
    precedence = inbound.header("Precedence").lower()
    x_precedence = inbound.header("X-Precedence").lower()
    return "auto_reply" in precedence or "auto_reply" in x_precedence or (
        inbound.header("X-Autogenerated").lower() == "reply"
    )


def machine_generated(inbound: Inbound) -> bool:
    """Sent by a program, not a person: RFC 3834 auto-generated, bulk/list precedence, mailing
    list headers. A person's answer never carries these; a newsletter always does."""
    submitted = inbound.header("Auto-Submitted").lower()
    if submitted and submitted.split(";")[0].strip() not in _NEGATIVE:
        return True
    precedence = inbound.header("Precedence").lower()
    if precedence in ("bulk", "list", "junk"):
        return True
    return any(inbound.has(name) for name in ("List-Id", "List-Unsubscribe", "Feedback-ID",
                                              "X-Campaign-Id"))


def unsubscribe_requested(subject: str, text: str) -> bool:
    """The subject or the sender's own words ask to stop receiving mail. Lines with a link are
    footers ("click here to unsubscribe"), not requests. Requests come first and are short, so
    only the start of the text is read."""
    if UNSUBSCRIBE_SUBJECT.match(subject):
        return True
    text = text[:_REQUEST_CHARS].lower()
    if _BARE_REQUEST.search(text):
        return True
    for match in UNSUBSCRIBE_BODY.finditer(text):
        start = text.rfind("\n", 0, match.start()) + 1
        end = text.find("\n", match.end())
        if not _LINK.search(text, start, end if end >= 0 else len(text)):
            return True
    return False
