"""The web app: server-rendered pages over the same services as the API.

Pages work without JavaScript (everything is readable, every change is a plain form: POST,
CSRF token, redirect); the project's own scripts, served from our origin under a strict
Content-Security-Policy, only enhance them. `site.py` builds the routes, the template
engine and the HTML error pages for the composition root; `diagram.py` lays out the SVG
roadmap; the templates and static files live beside them.
"""
