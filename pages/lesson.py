"""Lesson: a lesson's steps one at a time, each setting up the sidebar, beside the live Lab view."""

from ui import errors, lesson, shell

screen = shell.screen()
with errors.guard("Lesson"):
    lesson.page(screen)
