"""The player page's words in each language it speaks, chosen from the browser's
Accept-Language (English when none of its languages is known)."""

from __future__ import annotations

from collections.abc import Mapping

from laurels.wire.locales import choose_locale, parse_accept_language

ENGLISH: Mapping[str, str] = {
    "lang": "en",
    "site": "Laurels",
    "skip": "Skip to content",
    "your_titles": "Your titles",
    "titles_heading": "Your games",
    "no_titles": "You have not played a game of this sandbox yet.",
    "title": "Game",
    "gamerscore": "Gamerscore",
    "achievements": "Achievements",
    "complete": "Complete",
    "last_unlock": "Last unlock",
    "never": "Never",
    "dev_banner": "Development sandbox {sandbox}: test data, not seen by players.",
    "achievement_unlocked": "Achievement Unlocked",
    "g": "G",
    "secret_name": "Secret achievement",
    "secret_description": "Keep playing to reveal this secret achievement.",
    "achieved": "Achieved",
    "in_progress": "In progress",
    "not_started": "Locked",
    "progress_label": "Progress",
    "rarity": "{percent}% of players",
    "rare": "Rare",
    "rewards": "Rewards",
    "show": "Show",
    "show_all": "All",
    "show_unlocked": "Unlocked",
    "show_locked": "Locked",
    "sort": "Sort by",
    "sort_unlocktime": "Unlock time",
    "sort_rarity": "Rarity",
    "sort_title": "Title order",
    "apply": "Apply",
    "counts": "{earned} of {total} achievements, {score} of {max} G",
    "no_achievements": "No achievement to show.",
    "feed": "Activity",
    "no_activity": "No activity yet.",
    "feed_item": "unlocked {name}",
    "back": "Back to your games",
    "not_found": "Not found",
    "not_found_text": "There is no such game here.",
    "signed_out": "Your session has ended",
    "signed_out_text": "Open a new link from your game to see your achievements.",
    "link_refused": "This link does not work",
    "link_refused_text": (
        "It has expired, was used already, or is not valid. Ask your game for a new link."
    ),
    "forbidden": "Not your page",
    "forbidden_text": "You can only see your own achievements.",
}

FRENCH: Mapping[str, str] = {
    "lang": "fr",
    "site": "Laurels",
    "skip": "Aller au contenu",
    "your_titles": "Vos jeux",
    "titles_heading": "Vos jeux",
    "no_titles": "Vous n’avez encore joué à aucun jeu de ce bac à sable.",
    "title": "Jeu",
    "gamerscore": "Gamerscore",
    "achievements": "Succès",
    "complete": "Terminé",
    "last_unlock": "Dernier succès",
    "never": "Jamais",
    "dev_banner": "Bac à sable de développement {sandbox} : données de test.",
    "achievement_unlocked": "Succès déverrouillé",
    "g": "G",
    "secret_name": "Succès secret",
    "secret_description": "Continuez à jouer pour découvrir ce succès secret.",
    "achieved": "Obtenu",
    "in_progress": "En cours",
    "not_started": "Verrouillé",
    "progress_label": "Progression",
    "rarity": "{percent} % des joueurs",
    "rare": "Rare",
    "rewards": "Récompenses",
    "show": "Afficher",
    "show_all": "Tous",
    "show_unlocked": "Obtenus",
    "show_locked": "Verrouillés",
    "sort": "Trier par",
    "sort_unlocktime": "Date d’obtention",
    "sort_rarity": "Rareté",
    "sort_title": "Ordre du jeu",
    "apply": "Appliquer",
    "counts": "{earned} succès sur {total}, {score} G sur {max}",
    "no_achievements": "Aucun succès à afficher.",
    "feed": "Activité",
    "no_activity": "Aucune activité pour le moment.",
    "feed_item": "a obtenu {name}",
    "back": "Retour à vos jeux",
    "not_found": "Introuvable",
    "not_found_text": "Ce jeu n’existe pas ici.",
    "signed_out": "Votre session est terminée",
    "signed_out_text": "Ouvrez un nouveau lien depuis votre jeu pour voir vos succès.",
    "link_refused": "Ce lien ne fonctionne pas",
    "link_refused_text": (
        "Il a expiré, a déjà servi ou n’est pas valide. Demandez un nouveau lien à votre jeu."
    ),
    "forbidden": "Ce n’est pas votre page",
    "forbidden_text": "Vous ne pouvez voir que vos propres succès.",
}

LANGUAGES: Mapping[str, Mapping[str, str]] = {"en": ENGLISH, "fr": FRENCH}


def messages_for(accept_language: str | None) -> Mapping[str, str]:
    """The words for the browser's languages; never raises on a malformed header."""
    chosen = choose_locale(parse_accept_language(accept_language), LANGUAGES, "en")
    return LANGUAGES[chosen]
