"""`haven demo`: a short scripted incident, replayed through the real console and storage.

Part 2 runs a second Haven process-lifetime on the same data directory, to show that a
case resumes exactly where it was.
"""

DEMO_SCRIPT = (
    "\n".join(
        (
            "/start",
            "English",
            "1",  # privacy notice understood
            "No",  # is anyone threatening your safety?
            "Yes",  # is someone demanding money? -> critical, staff alerted
            "They want money by Friday or they post the screenshots",
            "No",  # anyone under 18?
            "3",  # spread: group chats
            "1",  # leaked: chat records ...
            "6",  # ... that's all
            "1",  # source: a hotel or venue system
            "3",  # why does this matter?
            "1",  # done
            "2",  # skip
            "/status",
        )
    )
    + "\n",
    "\n".join(
        (
            "/start",  # Haven was restarted: the case resumes where it was
            "/lang",
            "中文",
            "他们说知道我住哪，要找人打我",  # a threat in free text raises severity at once
            "/help",
            "/stop",
        )
    )
    + "\n",
)
