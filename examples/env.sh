#!/bin/sh
# Sends the CGI environment the program was started with, one variable a line.
env | sort
