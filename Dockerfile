# RNN Lab class container (Streamlit's documented deployment: slim base, EXPOSE 8501, HEALTHCHECK on
# /_stcore/health, headless server). CPU-only PyTorch keeps the image small: about 1.6 GB (the
# python:3.11-slim base ~130 MB plus the pinned requirements, measured at 1.5 GB in a fresh virtual
# environment, torch 754 MB of it), against 6-7 GB with the default CUDA wheels.
#
#   docker build -t rnnlab .
#   docker run -p 8501:8501 -e RNNLAB_MAX_CONCURRENT=4 rnnlab
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STREAMLIT_SERVER_HEADLESS=true \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    STREAMLIT_SERVER_FILE_WATCHER_TYPE=none

WORKDIR /app

# The same pins as the README's commands. torch first, from PyTorch's CPU index: requirements.txt's
# torch==2.13.0 is then already satisfied by 2.13.0+cpu and no CUDA wheel is fetched.
COPY requirements.txt .
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && pip install -r requirements.txt

# The code belongs to root and is read-only (COPY writes root-owned files; chmod drops any write bit
# the build context carried): the runtime user can run the app but not rewrite it. Its only writable
# place is its home (HOME, and the caches Streamlit and torch put there); /tmp stays writable as usual.
COPY app.py ./
COPY .streamlit ./.streamlit
COPY pages ./pages
COPY ui ./ui
COPY rnnlab ./rnnlab
RUN chmod -R a-w,a+rX /app \
 && useradd --create-home --uid 10001 rnnlab
ENV HOME=/home/rnnlab XDG_CACHE_HOME=/home/rnnlab/.cache
USER rnnlab

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://localhost:8501/_stcore/health', timeout=4).status == 200 else 1)"

ENTRYPOINT ["python", "-m", "ui.serve", "--server.port=8501", "--server.address=0.0.0.0", \
            "--server.headless=true", "--browser.gatherUsageStats=false"]
