"""Attachments to products: documents, photos and digital data.

Before an attachment is released it is identified by its content (`tisa.attachments.kinds`),
cleaned of what would betray sources and methods (`tisa.attachments.scrub`), and, for photos,
given a small preview (`tisa.attachments.previews`). A file that cannot be identified, cleaned
or trusted is refused with `AttachmentRefused` and a reason a person can act on.
"""
