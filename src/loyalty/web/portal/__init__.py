"""The member portal (`/m`), next: a member signs in with phone and a one-time code and sees their
card, points, tier and history. It will share `loyalty.web.session`, `csrf`, `i18n` and the base
templates with the staff console (see docs/adr/0004-web-console.md)."""
